import type { Context } from "../../context.js";
import { failIngest, runIngestJob } from "../../datasets/ingest.js";
import { AppError } from "../../errors.js";
import type { IngestPayload } from "../../queues.js";
import type { IngestErrorCode, JobOutcome, JobRun } from "../contract.js";
import { JobFailure } from "../job-error.js";
import type { RecordSync } from "../record-sync.js";

/**
 * The `ingest` job: unpacks, decodes and checks an uploaded archive ({@link runIngestJob}). An archive
 * that can never work (an `AppError` below 500: unsafe, invalid, too large, no usable classes) is a final
 * {@link JobFailure} with that error's code; a full disk fails at once (the job lifecycle); anything else (a
 * crash) is retried.
 */
export async function runIngestHandler({
  ctx,
  payload,
  log,
}: JobRun<IngestPayload>): Promise<JobOutcome<void>> {
  try {
    await runIngestJob({ ctx, datasetId: payload.datasetId, log });
  } catch (err) {
    if (!(err instanceof AppError) || err.statusCode >= 500) throw err;
    // A code the contract does not list ends as the queue's generic code (the job lifecycle checks).
    throw new JobFailure(err.code as IngestErrorCode, err.message);
  }
  return { state: "completed", result: undefined };
}

/**
 * The dataset record of an ingest job: only a dataset still `ingesting` is worked on; ingestion itself
 * marks it `ready`; a final failure marks it `failed` with `{code, message}` and drops its files and upload.
 */
export function datasetRecordSync(ctx: Context): RecordSync<void> {
  const nothing = async () => undefined;
  return {
    async start(id) {
      const dataset = await ctx.datasets.get(id).catch(() => undefined);
      return dataset?.state === "ingesting";
    },
    complete: nothing,
    cancel: nothing,
    retry: nothing,
    handBack: nothing,
    fail: (id, error) => failIngest(ctx, id, error),
  };
}
