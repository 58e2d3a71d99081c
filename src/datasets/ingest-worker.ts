import { type ConnectionOptions, Worker } from "bullmq";
import type { Context } from "../context.js";
import type { Logger } from "../logger.js";
import { createRedis, INGEST_QUEUE, type IngestPayload } from "../queues.js";
import { failIngest, runIngestJob } from "./ingest.js";

/**
 * A BullMQ worker for {@link INGEST_QUEUE}: runs {@link runIngestJob} for up to `concurrency` datasets at
 * once. When the last attempt of a job fails for a reason that is not the upload's fault (a full disk, a
 * crash), the dataset is marked failed with `INGEST_FAILED`.
 */
export function createIngestWorker(ctx: Context, logger: Logger, concurrency: number): Worker<IngestPayload> {
  const { config } = ctx;
  const connection = createRedis(config.redisUrl);
  const worker = new Worker<IngestPayload>(
    INGEST_QUEUE,
    (job) =>
      runIngestJob({
        ctx,
        datasetId: job.data.datasetId,
        log: logger.child({ datasetId: job.data.datasetId }),
      }),
    {
      connection: connection as unknown as ConnectionOptions,
      prefix: config.QUEUE_PREFIX,
      concurrency,
      lockDuration: config.WORKER_LOCK_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    },
  );
  worker.on("failed", (job, err) => {
    if (!job || err.name === "UnrecoverableError") return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.error({ datasetId: job.data.datasetId, final, err: err.message }, "ingestion attempt failed");
    if (!final) return;
    void failIngest(ctx, job.data.datasetId, {
      code: "INGEST_FAILED",
      message: "ingestion failed on the server; upload the archive again",
    }).catch(() => undefined);
  });
  worker.on("error", (err) => logger.error({ err: err.message }, "ingest worker error"));
  worker.on("closed", () => connection.disconnect());
  return worker;
}
