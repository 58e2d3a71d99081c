import { rm, stat } from "node:fs/promises";
import type { Context } from "../context.js";
import { ImageError } from "../errors.js";
import type { Logger } from "../logger.js";
import { extractArchive } from "./archive.js";
import { decodeForIngest } from "./decode.js";
import { assertUsableClasses, countPerClass, detectLayout, isImagePath } from "./layout.js";
import { type PackSpan, PackWriter } from "./pack.js";
import { buildReport, type ReportEntry, reportSummary } from "./report.js";
import { type DatasetItem, type DatasetItems, type IngestProgress, MAX_LISTED_REJECTED } from "./schemas.js";
import { type ImageSignature, imageSignature } from "./signature.js";

/** Archive files decoded at once while the archive is read. */
const CONCURRENCY = 8;
/** Largest image file accepted in an archive. */
const MAX_IMAGE_BYTES = 64 * 1024 * 1024;
/** Progress is written to the dataset record at most this often. */
const PROGRESS_MS = 500;
const SPLITS = ["train", "val", "test"] as const;

/** What an ingestion run needs from its worker. */
export interface IngestRunOptions {
  ctx: Context;
  datasetId: string;
  log: Logger;
}

interface Scan {
  files: string[];
  signatures: Map<string, ImageSignature>;
  /** Where each decodable image lies in the pack. */
  spans: Map<string, PackSpan>;
  rejected: { path: string; reason: string }[];
  ignored: number;
  progress: IngestProgress;
}

/**
 * Ingests an uploaded dataset: unpacks its archive (images only; everything else is counted, never
 * written), decodes every image once while reading, detects the layout, builds the report, and marks the
 * dataset `ready`. Input that can never work (an unsafe or invalid archive, limits, no usable classes)
 * throws an `AppError` with a status below 500 and its code; the ingest job handler
 * (src/jobs/handlers/ingest.ts) turns that into a final failure, and {@link failIngest} marks the dataset.
 */
export async function runIngestJob({ ctx, datasetId, log }: IngestRunOptions): Promise<void> {
  const scan = await scanArchive(ctx, datasetId);
  await publish(ctx, datasetId, scan);
  log.info(
    { datasetId, images: scan.signatures.size, rejected: scan.rejected.length, ...scan.progress },
    "dataset ready",
  );
}

/** Marks a dataset failed with `error` and drops its files and upload (the record stays, to explain). */
export async function failIngest(
  ctx: Context,
  datasetId: string,
  error: { code: string; message: string },
): Promise<void> {
  await rm(ctx.datasets.filesDir(datasetId), { recursive: true, force: true });
  await rm(ctx.datasets.packPath(datasetId), { force: true });
  await rm(ctx.datasets.archivePath(datasetId), { force: true });
  await ctx.datasets.update(datasetId, { state: "failed", error, progress: undefined });
}

async function scanArchive(ctx: Context, id: string): Promise<Scan> {
  const { config, datasets } = ctx;
  const dir = datasets.filesDir(id);
  await rm(dir, { recursive: true, force: true });
  const archive = datasets.archivePath(id);
  const total = (await stat(archive)).size;
  const pack = await PackWriter.create(datasets.packPath(id));
  const spans = new Map<string, PackSpan>();
  const signatures = new Map<string, ImageSignature>();
  const rejected: Scan["rejected"] = [];
  const started = performance.now();
  const progress: IngestProgress = { files: 0, done: 0, percent: 0, imagesPerSec: 0 };
  let read = 0;
  const reporter = new Throttled(PROGRESS_MS, () => datasets.update(id, { progress: { ...progress } }));
  const tick = () => {
    const secs = (performance.now() - started) / 1000;
    progress.percent = Math.min(99.9, Math.round((read / Math.max(1, total)) * 1000) / 10);
    progress.imagesPerSec = secs > 0 ? Math.round((progress.done / secs) * 10) / 10 : 0;
    reporter.poke();
  };
  let extracted: Awaited<ReturnType<typeof extractArchive>>;
  try {
    extracted = await extractArchive(
      archive,
      dir,
      {
        maxFiles: config.MAX_ARCHIVE_FILES,
        maxUnpackedBytes: config.MAX_UNPACKED_BYTES,
      },
      {
        keep: isImagePath,
        writeFiles: false,
        concurrency: CONCURRENCY,
        maxFileBytes: MAX_IMAGE_BYTES,
        onRead: (bytes) => {
          read += bytes;
        },
        onFile: async (rel, bytes) => {
          progress.files++;
          try {
            const img = await decodeForIngest(bytes, config.MAX_IMAGE_PIXELS);
            signatures.set(rel, imageSignature(img.pixels, img.width, img.height, img.channels));
            spans.set(rel, await pack.append(bytes));
          } catch (err) {
            if (!(err instanceof ImageError)) throw err;
            rejected.push({ path: rel, reason: err.reason });
          }
          progress.done++;
          tick();
        },
      },
    );
    await pack.close();
  } catch (err) {
    // A progress write still in flight must land before the failure is recorded, not after it.
    await reporter.stop();
    await pack.abandon().catch(() => undefined);
    throw err;
  }
  await reporter.stop();
  await rm(dir, { recursive: true, force: true });
  for (const rel of extracted.oversized) {
    rejected.push({ path: rel, reason: `file larger than ${MAX_IMAGE_BYTES} bytes` });
  }
  rejected.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  progress.percent = 100;
  return { files: extracted.files, signatures, spans, rejected, ignored: extracted.ignoredCount, progress };
}

async function publish(ctx: Context, id: string, scan: Scan): Promise<void> {
  const layout = detectLayout(scan.files);
  const unused = layout.ignored.filter((rel) => scan.signatures.has(rel));
  const packed = (list: DatasetItem[] | undefined) =>
    (list ?? []).flatMap((i) => {
      const at = scan.spans.get(i.path);
      return at ? [{ ...i, at }] : [];
    });
  const items: DatasetItems = { train: packed(layout.splits.train) };
  for (const s of ["val", "test"] as const) {
    const kept = packed(layout.splits[s]);
    if (kept.length > 0) items[s] = kept;
  }
  assertUsableClasses(layout.classes, items.train);
  const entries: ReportEntry[] = SPLITS.flatMap((split) =>
    (items[split] ?? []).map((i) => ({ ...i, split, sig: scan.signatures.get(i.path) as ImageSignature })),
  );
  const report = { ...buildReport(entries, scan.rejected), classNameCollisions: layout.caseCollisions };
  await ctx.datasets.saveContents(id, items, report);
  const summary = (list: DatasetItems["train"]) => {
    const counts = countPerClass(list);
    return {
      images: list.length,
      perClass: Object.fromEntries(layout.classes.map((c) => [c, counts[c] ?? 0])),
    };
  };
  await ctx.datasets.update(id, {
    state: "ready",
    readyAt: new Date().toISOString(),
    progress: scan.progress,
    classes: layout.classes,
    splits: {
      train: summary(items.train),
      ...(items.val ? { val: summary(items.val) } : {}),
      ...(items.test ? { test: summary(items.test) } : {}),
    },
    rejected: scan.rejected.slice(0, MAX_LISTED_REJECTED),
    rejectedCount: scan.rejected.length,
    ignored: scan.ignored + unused.length,
    summary: reportSummary(report),
  });
  await rm(ctx.datasets.archivePath(id), { force: true });
}

/** Runs `write` at most once per `ms`, never two at once; `settle` waits for the last one. */
class Throttled {
  private last = 0;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly ms: number,
    private readonly write: () => Promise<unknown>,
  ) {}

  private stopped = false;

  poke(): void {
    const now = Date.now();
    if (this.stopped || this.running || now - this.last < this.ms) return;
    this.last = now;
    this.running = this.write()
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Writes no more, and resolves once the write in flight, if any, has landed. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
