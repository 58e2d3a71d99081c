import type { Worker } from "bullmq";
import type { Context } from "../context.js";
import { JOB_QUEUES } from "../jobs/contract.js";
import { createJobWorker } from "../jobs/lifecycle.js";
import type { Logger } from "../logger.js";

/**
 * A BullMQ worker for the ingest queue: runs the contract's `ingest` job for up to `concurrency` datasets
 * at once. An archive that can never work marks its dataset failed with its own code at once; when the
 * last attempt fails for a reason that is not the upload's fault (a full disk, a crash), the dataset is
 * marked failed with `INGEST_FAILED`.
 */
export function createIngestWorker(ctx: Context, logger: Logger, concurrency: number): Worker {
  return createJobWorker({ ctx, logger, queue: JOB_QUEUES.ingest, concurrency });
}
