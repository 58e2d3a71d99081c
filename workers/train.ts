import { createContext } from "../src/context.js";
import { createIngestWorker } from "../src/datasets/ingest-worker.js";
import { JOB_QUEUES } from "../src/jobs/contract.js";
import { createJobWorker } from "../src/jobs/lifecycle.js";
import { configOrExit, onShutdown } from "../src/lib/process.js";
import { createLogger } from "../src/logger.js";
import { publishMetrics, startProcessMetrics } from "../src/ops/metrics.js";
import { JOBS_QUEUE } from "../src/queues.js";
import { createWebhookWorker } from "../src/webhooks/worker.js";

const config = configOrExit();
const logger = createLogger(config.LOG_LEVEL, "train-worker", config.LOG_FORMAT);
const ctx = createContext(config, logger);
startProcessMetrics("train-worker");
const stopMetrics = publishMetrics(ctx.redis, config.QUEUE_PREFIX);
let draining = false;

const worker = createJobWorker({
  ctx,
  logger,
  queue: JOB_QUEUES.jobs,
  concurrency: config.TRAIN_CONCURRENCY,
  draining: () => draining,
  maxStalledCount: 5,
});
const ingest =
  config.INGEST_CONCURRENCY > 0 ? createIngestWorker(ctx, logger, config.INGEST_CONCURRENCY) : undefined;
// Deliveries of finished jobs' webhooks (network waits, beside the CPU-bound training).
const webhooks = createWebhookWorker(ctx, logger);

onShutdown(
  async () => {
    draining = true;
    await Promise.all([worker.close(), ingest?.close(), webhooks.close()]);
    await stopMetrics();
    await ctx.close();
  },
  (msg) => logger.info(msg),
);
logger.info(
  { queue: JOBS_QUEUE, prefix: config.QUEUE_PREFIX, concurrency: config.TRAIN_CONCURRENCY },
  "train worker ready",
);
