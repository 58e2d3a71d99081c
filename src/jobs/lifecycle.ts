import { type ConnectionOptions, DelayedError, type Job, UnrecoverableError, Worker } from "bullmq";
import Value from "typebox/value";
import type { Context } from "../context.js";
import { isDiskFull } from "../lib/disk.js";
import type { Logger } from "../logger.js";
import { jobDuration } from "../ops/metrics.js";
import { createRedis } from "../queues.js";
import { type AnyJobSpec, JOB_QUEUES, type JobQueue, jobsOn, LIFECYCLE_ERROR_CODES } from "./contract.js";
import { HandBackError, isJobFailure, type JobErrorInfo, JobFailure } from "./job-error.js";
import { Lease, LeaseLostError } from "./lease.js";
import { LockKeeper } from "./lock-keeper.js";
import type { RecordSync } from "./record-sync.js";

/** Errors whose record {@link runJob} already wrote: the worker's `failed` listener leaves them alone. */
const settled = new WeakSet<Error>();

/** What a worker gives every job it runs. */
export interface JobEnv {
  ctx: Context;
  log: Logger;
  /** True once the worker is shutting down. */
  draining: () => boolean;
  /** Renews the locks of the jobs being run from a thread of its own. */
  keeper?: LockKeeper;
}

/**
 * Runs one attempt of a queue job through the contract and keeps its record in step with BullMQ: the
 * payload is checked against its schema (`INVALID_PAYLOAD`), the record marked started, the handler run,
 * and its outcome written (completed, cancelled). On failure the record goes back to `queued` while BullMQ
 * retries, or shows `{code, message}` after the final attempt: the code of a declared {@link JobFailure},
 * else the queue's generic one (details stay in the log). A full disk (ENOSPC, EDQUOT) fails the job at once
 * as `INSUFFICIENT_STORAGE`; the worker lives on. A {@link HandBackError} puts the job back on
 * the queue at once, neither failed nor counted as an attempt.
 */
export async function runJob(
  queue: JobQueue<unknown>,
  specs: Record<string, AnyJobSpec>,
  job: Job,
  token: string | undefined,
  env: JobEnv,
): Promise<void> {
  const id = recordIdOf(queue, job.data);
  const log = env.log.child({ [queue.recordKey]: id });
  const records = queue.records(env.ctx);
  const spec = Object.hasOwn(specs, job.name) ? specs[job.name] : undefined;
  const started = performance.now();
  let outcome = "failed";
  const lease = token
    ? Lease.of(env.ctx.redis, job, token, env.ctx.config.WORKER_LOCK_MS, env.keeper)
    : Lease.none(String(job.id));
  try {
    if (!spec)
      throw new JobFailure("UNKNOWN_JOB_TYPE", `no handler for job '${job.name}' on '${queue.name}'`);
    if (!Value.Check(spec.payload, job.data))
      throw new JobFailure("INVALID_PAYLOAD", payloadProblem(spec, job));
    if (!id || !(await records.start(id))) return;
    const run = { ctx: env.ctx, payload: job.data, log, draining: env.draining, lease };
    const result = await spec.handler(run);
    await lease.assertHeld();
    if (result.state === "cancelled") await records.cancel(id);
    else await records.complete(id, result.result);
    outcome = result.state;
  } catch (thrown) {
    const err = isDiskFull(thrown)
      ? new JobFailure("INSUFFICIENT_STORAGE", `the worker's disk is full: ${(thrown as Error).message}`)
      : thrown instanceof Error
        ? thrown
        : new Error(String(thrown));
    if (err instanceof LeaseLostError || !(await stillHeld(lease))) {
      settled.add(err);
      log.warn({ err: err.message }, "this worker lost the job's lock; it stops without writing anything");
      throw err;
    }
    if (err instanceof HandBackError && id) {
      outcome = "handed-back";
      await records.handBack(id);
      await job.moveToDelayed(Date.now(), token);
      log.info("job handed back to the queue after its checkpoint");
      throw new DelayedError();
    }
    const final = isUnrecoverable(err) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    await settle({ records, id, log, final, error: errorInfo(err, spec, queue), err, job });
    throw err;
  } finally {
    lease.stop();
    jobDuration.observe({ job: job.name, outcome }, (performance.now() - started) / 1000);
  }
}

/** Whether the lease still holds (false once another worker owns the job). */
async function stillHeld(lease: Lease): Promise<boolean> {
  try {
    await lease.assertHeld();
    return true;
  } catch {
    return false;
  }
}

/** Options of {@link createJobWorker}. */
export interface JobWorkerOptions {
  ctx: Context;
  logger: Logger;
  /** The queue to work on (a {@link JOB_QUEUES} entry). */
  queue: JobQueue<unknown>;
  /** Jobs to run by name; the contract's entries on `queue` by default. */
  specs?: Record<string, AnyJobSpec>;
  concurrency: number;
  /** True once the worker process is shutting down (training hands its job back). */
  draining?: () => boolean;
  /** Times a job may stall (its worker died) before it fails; BullMQ's default is 1. */
  maxStalledCount?: number;
}

/**
 * A BullMQ worker that runs its queue's jobs with {@link runJob}, their locks renewed by a
 * {@link LockKeeper} thread as well as by BullMQ. Its `failed` listener covers the one
 * failure `runJob` never sees: a job that stalled more often than allowed (its workers died), which BullMQ
 * fails before any handler runs; the record then shows the queue's generic code.
 */
export function createJobWorker(o: JobWorkerOptions): Worker {
  const { ctx, logger, queue } = o;
  const specs = o.specs ?? jobsOn(queue);
  const keeper = LockKeeper.start({ redisUrl: ctx.config.redisUrl, lockMs: ctx.config.WORKER_LOCK_MS });
  const env: JobEnv = { ctx, log: logger, draining: o.draining ?? (() => false), keeper };
  const connection = createRedis(ctx.config.redisUrl);
  const worker = new Worker(queue.name, (job, token) => runJob(queue, specs, job, token, env), {
    connection: connection as unknown as ConnectionOptions,
    prefix: ctx.config.QUEUE_PREFIX,
    concurrency: o.concurrency,
    lockDuration: ctx.config.WORKER_LOCK_MS,
    stalledInterval: ctx.config.WORKER_STALLED_INTERVAL_MS,
    ...(o.maxStalledCount === undefined ? {} : { maxStalledCount: o.maxStalledCount }),
  });
  worker.on("failed", (job, err) => {
    if (!job || settled.has(err) || err instanceof DelayedError || err.name === "DelayedError") return;
    const id = recordIdOf(queue, job.data);
    const final = isUnrecoverable(err) || job.attemptsMade >= (job.opts.attempts ?? 1);
    const error = job.deferredFailure
      ? { code: queue.generic.code, message: "the job's workers stopped responding too many times" }
      : queue.generic;
    const log = logger.child({ [queue.recordKey]: id });
    void settle({ records: queue.records(ctx), id, log, final, error, err, job });
  });
  worker.on("error", (err) => logger.error({ queue: queue.name, err: err.message }, "worker error"));
  worker.on("closed", () => {
    connection.disconnect();
    void keeper.close();
  });
  return worker;
}

/** The record's id in a payload, when the payload has one. */
function recordIdOf(queue: JobQueue<unknown>, data: unknown): string | undefined {
  const id = (data as Record<string, unknown> | null)?.[queue.recordKey];
  return typeof id === "string" && id !== "" ? id : undefined;
}

function isUnrecoverable(err: Error): boolean {
  return err instanceof UnrecoverableError || err.name === "UnrecoverableError";
}

/** What the record shows: a declared failure's own code and message, else the queue's generic ones. */
function errorInfo(err: Error, spec: AnyJobSpec | undefined, queue: JobQueue<unknown>): JobErrorInfo {
  if (!isJobFailure(err)) return queue.generic;
  const declared =
    (LIFECYCLE_ERROR_CODES as readonly string[]).includes(err.code) || spec?.errorCodes.includes(err.code);
  return declared ? err.toInfo() : queue.generic;
}

function payloadProblem(spec: AnyJobSpec, job: Job): string {
  const first = [...Value.Errors(spec.payload, job.data)][0];
  const where = first?.instancePath || "payload";
  return `invalid payload for job '${job.name}': ${where} ${first?.message ?? "does not match its schema"}`;
}

/** Logs a failed attempt and writes the record: back to queued, or failed with `error` when final. */
async function settle(f: {
  records: RecordSync<unknown>;
  id: string | undefined;
  log: Logger;
  final: boolean;
  error: JobErrorInfo;
  err: Error;
  job: Job;
}): Promise<void> {
  settled.add(f.err);
  const expected = isJobFailure(f.err);
  f.log[f.final ? "error" : "warn"](
    {
      job: f.job.name,
      attemptsMade: f.job.attemptsMade,
      final: f.final,
      code: f.error.code,
      err: f.err.message,
      ...(expected ? {} : { stack: f.err.stack }),
    },
    "job attempt failed",
  );
  if (!f.id) return;
  try {
    if (f.final) await f.records.fail(f.id, f.error);
    else await f.records.retry(f.id);
  } catch (err) {
    f.log.error({ err: (err as Error).message }, "could not write the failed job's record");
  }
}
