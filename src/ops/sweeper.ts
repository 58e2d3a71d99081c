import { readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Context } from "../context.js";
import { isTerminal } from "../jobs/record-sync.js";

/** What {@link sweep} may remove. */
export interface SweepOptions {
  /** Leftovers of an interrupted write (uploads, temporary and trash folders) older than this go. */
  orphanAgeMs: number;
  /** Checkpoints of finished jobs go this long after the job finished. */
  checkpointRetentionMs: number;
  /** The time to compare with (tests); now by default. */
  now?: number;
}

/** What one sweep removed. */
export interface SweepReport {
  removed: string[];
  bytes: number;
}

/** Names a crashed write leaves behind: uploads, temporary files and folders, trash being removed. */
const LEFTOVER = /(\.upload|\.tmp)$|^\.(tmp|trash)-/;

/**
 * Removes what nothing will use again: uploads and temporary or trash files and folders older than
 * `orphanAgeMs` (an API or worker killed mid-write leaves them; a write in progress keeps its files
 * fresh), checkpoints of jobs that finished more than `checkpointRetentionMs` ago, and checkpoints of jobs
 * that no longer have a record. Safe to run from several processes at once.
 */
export async function sweep(ctx: Context, options: SweepOptions): Promise<SweepReport> {
  const now = options.now ?? Date.now();
  const report: SweepReport = { removed: [], bytes: 0 };
  const { paths } = ctx;
  const old = now - options.orphanAgeMs;
  const candidates = [
    ...(await children(paths.uploads)),
    ...(await children(paths.models)),
    ...(await children(paths.datasets)),
    ...(await children(paths.checkpoints)),
  ];
  for (const dataset of await children(paths.datasets)) {
    if (!path.basename(dataset).startsWith(".")) candidates.push(...(await children(dataset)));
  }
  for (const entry of candidates) {
    if (LEFTOVER.test(path.basename(entry))) await removeIf(entry, (mtime) => mtime < old, report);
  }
  for (const dir of await children(paths.checkpoints)) {
    const jobId = path.basename(dir);
    if (LEFTOVER.test(jobId)) continue;
    const record = await ctx.jobs.get(jobId);
    if (!record) {
      await removeIf(dir, (mtime) => mtime < old, report);
    } else if (isTerminal(record.state)) {
      const finished = Date.parse(record.finishedAt ?? record.createdAt);
      if (finished < now - options.checkpointRetentionMs) await removeIf(dir, () => true, report);
    }
  }
  return report;
}

/**
 * Sweeps now and then every `intervalMs` until stopped; logs what each sweep freed. Errors are logged,
 * never thrown (a sweep must not take its process down).
 */
export function startSweeper(ctx: Context, options: SweepOptions & { intervalMs: number }): () => void {
  const run = () =>
    sweep(ctx, options).then(
      (r) => {
        if (r.removed.length > 0)
          ctx.logger.info({ removed: r.removed.length, bytes: r.bytes }, "sweep done");
      },
      (err: Error) => ctx.logger.warn({ err: err.message }, "sweep failed"),
    );
  void run();
  const timer = setInterval(() => void run(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

async function children(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.map((n) => path.join(dir, n));
}

async function removeIf(
  entry: string,
  when: (mtimeMs: number) => boolean,
  report: SweepReport,
): Promise<void> {
  const info = await stat(entry).catch(() => undefined);
  if (!info || !when(info.mtimeMs)) return;
  const bytes = info.isDirectory() ? await sizeOf(entry) : info.size;
  await rm(entry, { recursive: true, force: true });
  report.removed.push(entry);
  report.bytes += bytes;
}

async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (entry.isFile())
      total += (await stat(path.join(entry.parentPath, entry.name)).catch(() => undefined))?.size ?? 0;
  }
  return total;
}
