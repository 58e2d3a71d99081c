import { type ConnectionOptions, Worker } from "bullmq";
import { createContext } from "../src/context.js";
import { configOrExit, onShutdown } from "../src/lib/process.js";
import { createLogger } from "../src/logger.js";
import { Predictor } from "../src/models/predictor.js";
import { publishMetrics, startProcessMetrics } from "../src/ops/metrics.js";
import { createRedis, PREDICT_QUEUE, type PredictPayload, type PredictResult } from "../src/queues.js";

const config = configOrExit();
const logger = createLogger(config.LOG_LEVEL, "predict-worker", config.LOG_FORMAT);
const ctx = createContext(config, logger, "online");
startProcessMetrics("predict-worker");
const stopMetrics = publishMetrics(ctx.redis, config.QUEUE_PREFIX);
const predictor = new Predictor(ctx, {
  cacheSize: config.MODEL_CACHE_SIZE,
  maxBatch: config.PREDICT_BATCH_SIZE,
  waitMs: config.PREDICT_WAIT_MS,
  maxPixels: config.MAX_IMAGE_PIXELS,
});
const worker = new Worker<PredictPayload, PredictResult>(
  PREDICT_QUEUE,
  (job) => predictor.predict(job.data),
  {
    connection: createRedis(config.redisUrl) as unknown as ConnectionOptions,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.PREDICT_BATCH_SIZE * 2,
    lockDuration: config.PREDICT_LOCK_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
  },
);
worker.on("failed", (job, err) =>
  logger.warn({ modelId: job?.data.modelId, err: err.message }, "prediction failed"),
);
worker.on("error", (err) => logger.error({ err: err.message }, "predict worker error"));

onShutdown(
  async () => {
    await worker.close();
    await stopMetrics();
    await ctx.close();
  },
  (msg) => logger.info(msg),
);
logger.info({ queue: PREDICT_QUEUE, prefix: config.QUEUE_PREFIX }, "predict worker ready");
