import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { EpochRecord, JobRecord, Progress } from "../jobs/schemas.js";
import type { ModelManifest } from "../models/schemas.js";
import { sleep } from "./api.js";
import { ApiError, EndedError, UnreachableError } from "./errors.js";
import { type Column, fixed, formatDuration, percent, row } from "./format.js";
import { onInterrupt } from "./interrupt.js";
import type { ProgressBar } from "./output.js";
import { type Runtime, seg } from "./runtime.js";

/** How long the stream may stay unreachable (reconnecting with backoff) before following gives up. */
const GIVE_UP_MS = 60_000;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 5_000;

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/** Columns of the epoch table (`train --follow`, `jobs get`). */
export const EPOCH_COLUMNS: Column[] = [
  { header: "EPOCH", right: true },
  { header: "LOSS", right: true },
  { header: "ACCURACY", right: true },
  { header: "VAL LOSS", right: true },
  { header: "VAL ACC", right: true },
  { header: "SECONDS", right: true },
];
const EPOCH_WIDTHS = [5, 8, 8, 8, 8, 7];

type BarPayload = { label: string; rate?: number; eta?: number | null; etaAt: number };

/** One row of the epoch table. */
export function epochCells(e: EpochRecord): string[] {
  return [
    String(e.epoch),
    fixed(e.loss),
    percent(e.accuracy),
    fixed(e.valLoss),
    percent(e.valAccuracy),
    e.seconds.toFixed(1),
  ];
}

/** A job's stream as it is followed: the bar, the epochs already shown, the last state. */
class JobWatch {
  private readonly shown = new Set<string>();
  private headerShown = false;
  private lastKey = "";
  state = "queued";
  bar: ProgressBar<BarPayload> | undefined;

  constructor(
    private readonly rt: Runtime,
    readonly jobId: string,
  ) {
    this.bar = rt.out.bar<BarPayload>(
      (v) => {
        const p = v.payload;
        const eta = p.eta === null || p.eta === undefined ? undefined : p.eta - (Date.now() - p.etaAt) / 1000;
        const rate = p.rate === undefined ? "" : ` | ${p.rate.toFixed(1)} img/s`;
        const left = TERMINAL.has(p.label) ? "" : ` | ETA ${formatDuration(eta)}`;
        return `${v.bar} ${v.value.toFixed(0).padStart(3)}% | ${p.label}${rate}${left}`;
      },
      100,
      { label: "queued", etaAt: Date.now() },
    );
  }

  /** A job record (GET /v1/jobs/:id, or a `progress` event's data). */
  job(job: JobRecord): void {
    this.state = job.state;
    for (const e of job.history ?? []) this.epoch(e);
    this.progress(job.progress, job.state);
  }

  /** A progress report: moves the bar; with `--json` a line when the state or phase changes. */
  progress(p: Progress | undefined, state = this.state): void {
    this.state = state;
    const phase = state === "running" ? (p?.phase ?? "running") : state;
    const key = `${state}|${phase}`;
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.rt.out.record({ event: "progress", jobId: this.jobId, state, ...(p ?? {}), phase });
    }
    const label =
      phase === "training" && p?.epoch !== undefined && p?.epochs !== undefined
        ? `training epoch ${p.epoch}/${p.epochs}`
        : phase === "extracting"
          ? "extracting features"
          : phase;
    this.bar?.update(Math.min(100, p?.percent ?? 0), undefined, {
      label,
      rate: p?.imagesPerSec,
      eta: p?.etaSeconds,
      etaAt: Date.now(),
    });
  }

  /** An epoch: one table row (or JSON line), once per epoch however often it is reported. */
  epoch(e: EpochRecord): void {
    const key = JSON.stringify([e.epoch, e.loss, e.accuracy, e.valLoss, e.valAccuracy]);
    if (this.shown.has(key)) return;
    this.shown.add(key);
    const { out } = this.rt;
    out.record({
      event: "epoch",
      jobId: this.jobId,
      epoch: e.epoch,
      loss: e.loss,
      accuracy: e.accuracy,
      valLoss: e.valLoss,
      valAccuracy: e.valAccuracy,
      seconds: e.seconds,
    });
    const lines: string[] = [];
    if (!this.headerShown) {
      this.headerShown = true;
      lines.push(
        out.paint.bold(
          row(
            EPOCH_COLUMNS.map((c) => c.header),
            EPOCH_WIDTHS,
            EPOCH_COLUMNS,
          ),
        ),
      );
    }
    lines.push(row(epochCells(e), EPOCH_WIDTHS, EPOCH_COLUMNS));
    out.print(...lines);
  }
}

/** Data of an event as JSON, or undefined when it is not JSON. */
function dataOf(e: EventSourceMessage): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(e.data);
    return v && typeof v === "object" ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Follows a job's event stream (`GET /v1/jobs/:id/events`) until its `end`: a live bar (phase, percent,
 * images/s, ETA) and a row per epoch above it; reconnects with `Last-Event-ID` when the stream drops.
 * Prints the outcome (with the model's test or validation accuracy) and returns the final job; throws
 * {@link EndedError} (exit 3) when the job failed or was cancelled. Ctrl-C leaves the job running.
 */
export async function followJob(rt: Runtime, jobId: string): Promise<JobRecord> {
  const watch = new JobWatch(rt, jobId);
  const release = onInterrupt(() => ({
    message: TERMINAL.has(watch.state)
      ? `job ${jobId} has ended (${watch.state}); see: transfer jobs get ${jobId}`
      : `job ${jobId} is still ${watch.state === "queued" ? "queued" : "running"}; ` +
        `reattach with: transfer jobs follow ${jobId}`,
    details: { jobId, state: watch.state },
  }));
  try {
    await streamUntilEnd(rt, watch);
  } catch (err) {
    watch.bar?.stop();
    throw err;
  } finally {
    release();
  }
  const job = await rt.api.get<JobRecord>(`/v1/jobs/${seg(jobId)}`);
  watch.job(job);
  if (job.state === "completed") watch.bar?.finish();
  else watch.bar?.stop();
  await reportEnd(rt, job);
  return job;
}

/** Reads the stream, reconnecting, until an `end` event (or a terminal job) arrives. */
async function streamUntilEnd(rt: Runtime, watch: JobWatch): Promise<void> {
  const { api, out } = rt;
  let lastEventId: string | undefined;
  let retryMs = FIRST_RETRY_MS;
  let serverRetryMs: number | undefined;
  let downSince: number | undefined;
  for (;;) {
    let ended = false;
    try {
      const res = await api.request("GET", `/v1/jobs/${seg(watch.jobId)}/events`, {
        headers: { accept: "text/event-stream", ...(lastEventId ? { "last-event-id": lastEventId } : {}) },
      });
      if (!res.body) throw new UnreachableError("the event stream has no body");
      downSince = undefined;
      retryMs = FIRST_RETRY_MS;
      const events: EventSourceMessage[] = [];
      const parser = createParser({
        onEvent: (e) => events.push(e),
        onRetry: (ms) => {
          serverRetryMs = ms;
        },
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      while (!ended) {
        const { value, done } = await api.read(() => reader.read());
        if (done) break;
        parser.feed(value);
        for (const e of events.splice(0)) {
          if (e.id) lastEventId = e.id;
          ended = handle(watch, e) || ended;
        }
      }
      if (ended) {
        await reader.cancel().catch(() => undefined);
        return;
      }
    } catch (err) {
      const transient =
        err instanceof UnreachableError ||
        (err instanceof ApiError && (err.status >= 500 || err.status === 429));
      if (!transient) throw err;
      downSince ??= Date.now();
      if (Date.now() - downSince > GIVE_UP_MS) throw err;
    }
    // The stream dropped without `end`: reconnect, resuming after the last event id seen.
    downSince ??= Date.now();
    out.info(out.paint.dim("event stream interrupted; reconnecting..."));
    await sleep(serverRetryMs ?? retryMs);
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  }
}

/** Applies one event; true on `end` (or a job record that is over). */
function handle(watch: JobWatch, e: EventSourceMessage): boolean {
  const data = dataOf(e);
  switch (e.event) {
    case "progress":
      if (!data) return false;
      if (typeof data.state === "string" && Array.isArray(data.history)) {
        watch.job(data as unknown as JobRecord);
        return false;
      }
      if (typeof data.phase === "string") watch.progress(data as unknown as Progress);
      return false;
    case "epoch": {
      const e2 = (data?.epoch && typeof data.epoch === "object" ? data.epoch : data) as
        | EpochRecord
        | undefined;
      if (e2 && typeof e2.epoch === "number") watch.epoch(e2);
      return false;
    }
    case "end":
      return true;
    default:
      // `error` (the server lost Redis) and unknown events: the stream ends and is reopened, or they are ignored.
      return false;
  }
}

/** Prints how the job ended: model and accuracies, or its error (then throws, exit 3). */
async function reportEnd(rt: Runtime, job: JobRecord): Promise<void> {
  const { api, out } = rt;
  const p = out.paint;
  const took =
    job.startedAt && job.finishedAt
      ? ` in ${formatDuration((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000)}`
      : "";
  if (job.state !== "completed") {
    const error = job.error ?? { code: job.state.toUpperCase(), message: `the job was ${job.state}` };
    out.record({ event: "end", jobId: job.id, state: job.state, error });
    out.print(
      `job ${p.bold(job.id)} ${job.state === "failed" ? p.red("failed") : p.yellow(job.state)}${took}: ` +
        `${error.code}: ${error.message}`,
    );
    const failure = new EndedError(error.code, error.message);
    failure.recorded = true;
    throw failure;
  }
  let model: ModelManifest | undefined;
  if (job.modelId) {
    model = await api.get<ModelManifest>(`/v1/models/${seg(job.modelId)}`).catch((err: Error) => {
      out.warn(`could not read model ${job.modelId}: ${err.message}`);
      return undefined;
    });
  }
  const m = model?.metrics;
  const v = model?.validationMetrics;
  out.record({
    event: "end",
    jobId: job.id,
    state: job.state,
    modelId: job.modelId,
    ...(model ? { classes: model.classes } : {}),
    ...(m
      ? { metrics: { split: m.split, accuracy: m.accuracy, loss: m.loss, macroF1: m.macroF1, ece: m.ece } }
      : {}),
    ...(v ? { validationMetrics: v } : {}),
    ...(job.warnings?.length ? { warnings: job.warnings } : {}),
  });
  const lines = [`job ${p.bold(job.id)} ${p.green("completed")}${took}: model ${p.bold(job.modelId ?? "-")}`];
  if (m) {
    const split = m.split ?? "evaluation";
    const f1 = m.macroF1 === undefined ? "" : `, macro F1 ${m.macroF1.toFixed(3)}`;
    const val = v && split !== "validation" ? `; validation accuracy ${percent(v.accuracy)}` : "";
    lines.push(`  ${split} accuracy ${p.bold(percent(m.accuracy))}${f1}${val}`);
  }
  for (const w of job.warnings ?? []) lines.push(`  ${p.yellow("warning:")} ${w}`);
  if (job.modelId) lines.push(p.dim(`  predict with: transfer predict ${job.modelId} <image...>`));
  out.print(...lines);
}
