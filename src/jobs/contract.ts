/**
 * The job contract: every queue job name with its payload schema, its handler and the error codes its
 * record may show. Workers run jobs only through it (src/jobs/lifecycle.ts), so a new job is one entry
 * here, one handler, and nothing else.
 */
import type { Static, TSchema } from "typebox";
import type { Context } from "../context.js";
import type { Logger } from "../logger.js";
import { INGEST_QUEUE, IngestPayloadSchema, JOBS_QUEUE, JobPayloadSchema } from "../queues.js";
import { notifyWebhook } from "../webhooks/queue.js";
import { runBatchPredictJob } from "./handlers/batch-predict.js";
import { datasetRecordSync, runIngestHandler } from "./handlers/ingest.js";
import { runTrainHandler } from "./handlers/train.js";
import type { JobErrorInfo } from "./job-error.js";
import type { Lease } from "./lease.js";
import { type JobResult, jobRecordSync, type RecordSync } from "./record-sync.js";

/** What a handler gets for one attempt of a job. */
export interface JobRun<P> {
  ctx: Context;
  /** The job's payload, already checked against its schema. */
  payload: P;
  /** A logger bound to the job's record id. */
  log: Logger;
  /** True once the worker is shutting down: save progress and throw `HandBackError`, or finish. */
  draining: () => boolean;
  /** This attempt's ownership of the job: check it before every write (see {@link Lease}). */
  lease: Lease;
}

/** How a handler ended without failing: completed (with what its record gains) or cancelled on request. */
export type JobOutcome<R> = { state: "completed"; result: R } | { state: "cancelled" };

/**
 * A queue whose jobs each keep a record (a job record, a dataset) in step with BullMQ: where a payload
 * names its record, how the record changes, and what it shows for a failure nobody declared.
 */
export interface JobQueue<R> {
  /** The BullMQ queue name. */
  name: string;
  /** The payload field holding the record's id (also the field of every log line of the job). */
  recordKey: string;
  /** The record's transitions. */
  records(ctx: Context): RecordSync<R>;
  /** Shown for an unexpected error after the last attempt (its details stay in the worker's log). */
  generic: JobErrorInfo;
}

/** One job name: its queue, its payload schema, the codes its failures may carry, and its handler. */
export interface JobSpec<S extends TSchema, C extends string, R> {
  queue: JobQueue<R>;
  payload: S;
  errorCodes: readonly C[];
  /** Does the work; throws `JobFailure` (final) or `RetryableJobFailure` with one of `errorCodes`. */
  handler(run: JobRun<Static<S>>): Promise<JobOutcome<R>>;
}

/**
 * Codes the job lifecycle itself may give any job: bad payload, no record, a name nobody handles, a full
 * disk.
 */
export const LIFECYCLE_ERROR_CODES = [
  "INVALID_PAYLOAD",
  "JOB_NOT_FOUND",
  "UNKNOWN_JOB_TYPE",
  "INSUFFICIENT_STORAGE",
] as const;
export type LifecycleErrorCode = (typeof LIFECYCLE_ERROR_CODES)[number];

/** Failure codes of a `train` job. */
export const TRAIN_ERROR_CODES = ["DATASET_DELETED", "UNKNOWN_BACKBONE", "NO_USABLE_IMAGES"] as const;
export type TrainErrorCode = (typeof TRAIN_ERROR_CODES)[number];

/** Failure codes of a `predict` (batch prediction) job. */
export const PREDICT_ERROR_CODES = ["MODEL_DELETED", "DATASET_DELETED", "UNKNOWN_BACKBONE"] as const;
export type PredictErrorCode = (typeof PREDICT_ERROR_CODES)[number];

/** Failure codes of an `ingest` job: what the dataset record shows for an archive that can never work. */
export const INGEST_ERROR_CODES = [
  "EMPTY_UPLOAD",
  "INVALID_ARCHIVE",
  "UNSAFE_ARCHIVE",
  "PAYLOAD_TOO_LARGE",
  "INVALID_DATASET",
  "INVALID_CLASS_NAME",
] as const;
export type IngestErrorCode = (typeof INGEST_ERROR_CODES)[number];

/** The queues of the contract. */
export const JOB_QUEUES = {
  /**
   * Training and batch prediction; the record is the job record (GET /v1/jobs/:id), whose end queues its
   * webhook delivery.
   */
  jobs: {
    name: JOBS_QUEUE,
    recordKey: "jobId",
    records: (ctx: Context) => jobRecordSync(ctx.jobs, notifyWebhook(ctx)),
    generic: { code: "JOB_FAILED", message: "the job failed on the server; start it again" },
  } satisfies JobQueue<JobResult>,
  /** Dataset ingestion; the record is the dataset (GET /v1/datasets/:id). */
  ingest: {
    name: INGEST_QUEUE,
    recordKey: "datasetId",
    records: datasetRecordSync,
    generic: { code: "INGEST_FAILED", message: "ingestion failed on the server; upload the archive again" },
  } satisfies JobQueue<void>,
};

/** Types a contract entry (inferring its schema, codes and result). */
function defineJob<S extends TSchema, C extends string, R>(spec: JobSpec<S, C, R>): JobSpec<S, C, R> {
  return spec;
}

/** Every job name BullMQ carries (the API and stored records use these names). */
export const JOB_CONTRACT = {
  train: defineJob({
    queue: JOB_QUEUES.jobs,
    payload: JobPayloadSchema,
    errorCodes: TRAIN_ERROR_CODES,
    handler: runTrainHandler,
  }),
  predict: defineJob({
    queue: JOB_QUEUES.jobs,
    payload: JobPayloadSchema,
    errorCodes: PREDICT_ERROR_CODES,
    handler: runBatchPredictJob,
  }),
  ingest: defineJob({
    queue: JOB_QUEUES.ingest,
    payload: IngestPayloadSchema,
    errorCodes: INGEST_ERROR_CODES,
    handler: runIngestHandler,
  }),
};

/** A job name of the contract. */
export type JobName = keyof typeof JOB_CONTRACT;

/** Every code the record of a job named `N` may show: its own, the lifecycle's, its queue's generic one. */
export type JobErrorCode<N extends JobName> =
  | (typeof JOB_CONTRACT)[N]["errorCodes"][number]
  | LifecycleErrorCode
  | (N extends "ingest" ? "INGEST_FAILED" : "JOB_FAILED");

/** A contract entry of any job, as the lifecycle runs it. */
export type AnyJobSpec = JobSpec<TSchema, string, unknown>;

/** The contract's entries on one queue, by job name. */
export function jobsOn(queue: JobQueue<unknown>): Record<string, AnyJobSpec> {
  const specs: Record<string, AnyJobSpec> = {};
  for (const [name, spec] of Object.entries(JOB_CONTRACT) as [string, AnyJobSpec][]) {
    if (spec.queue.name === queue.name) specs[name] = spec;
  }
  return specs;
}
