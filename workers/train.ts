import { type ConnectionOptions, DelayedError, UnrecoverableError, Worker } from "bullmq";
import { createContext } from "../src/context.js";
import { createIngestWorker } from "../src/datasets/ingest-worker.js";
import { configOrExit, onShutdown } from "../src/lib/process.js";
import { createLogger } from "../src/logger.js";
import { runPredictJob } from "../src/models/predict-job.js";
import { createRedis, JOBS_QUEUE, type JobPayload } from "../src/queues.js";
import { HandBackError, runTrainJob } from "../src/training/train-job.js";

const config = configOrExit();
const logger = createLogger(config.LOG_LEVEL, "train-worker");
const ctx = createContext(config, logger);
let draining = false;

const worker = new Worker<JobPayload>(
  JOBS_QUEUE,
  async (job, token) => {
    const jobId = job.data.jobId;
    const log = logger.child({ jobId });
    try {
      if (job.name === "train") await runTrainJob({ ctx, jobId, log, draining: () => draining });
      else if (job.name === "predict") await runPredictJob({ ctx, jobId, log });
      else throw new UnrecoverableError(`UNKNOWN_JOB_TYPE: '${job.name}'`);
    } catch (err) {
      if (err instanceof HandBackError) {
        await ctx.jobs.update(jobId, { state: "queued" });
        await job.moveToDelayed(Date.now(), token);
        log.info("job handed back to the queue after its checkpoint");
        throw new DelayedError();
      }
      throw err;
    }
  },
  {
    connection: createRedis(config.redisUrl) as unknown as ConnectionOptions,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.TRAIN_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: 5,
  },
);

worker.on("failed", (job, err) => {
  if (!job || err instanceof DelayedError || err.name === "DelayedError") return;
  const jobId = job.data.jobId;
  const final =
    err.name === "UnrecoverableError" ||
    job.attemptsMade >= (job.opts.attempts ?? 1) ||
    /stalled/i.test(err.message);
  const [, code, message] = /^([A-Z_]+): (.*)$/s.exec(err.message) ?? [undefined, "JOB_FAILED", err.message];
  logger.error({ jobId, attemptsMade: job.attemptsMade, final, err: err.message }, "job attempt failed");
  void ctx.jobs
    .update(
      jobId,
      final
        ? { state: "failed", finishedAt: new Date().toISOString(), error: { code, message } }
        : { state: "queued" },
    )
    .catch(() => undefined);
});
worker.on("error", (err) => logger.error({ err: err.message }, "worker error"));
const ingest =
  config.INGEST_CONCURRENCY > 0 ? createIngestWorker(ctx, logger, config.INGEST_CONCURRENCY) : undefined;

onShutdown(
  async () => {
    draining = true;
    await Promise.all([worker.close(), ingest?.close()]);
    await ctx.close();
  },
  (msg) => logger.info(msg),
);
logger.info(
  { queue: JOBS_QUEUE, prefix: config.QUEUE_PREFIX, concurrency: config.TRAIN_CONCURRENCY },
  "train worker ready",
);
