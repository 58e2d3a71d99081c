import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import { buildApp } from "./app.js";
import { ensureFirstAdminKey } from "./auth/bootstrap.js";
import { createContext } from "./context.js";
import { configOrExit, onShutdown } from "./lib/process.js";
import { createLogger } from "./logger.js";
import { startProcessMetrics } from "./ops/metrics.js";
import { startSweeper } from "./ops/sweeper.js";
import { openQueues } from "./queues.js";

/** How long shutdown waits for the queues to close before it leaves them to the process exit. */
const QUEUES_CLOSE_MS = 2000;

const config = configOrExit();
const logger = createLogger(config.LOG_LEVEL, "api", config.LOG_FORMAT);
const ctx = createContext(config, logger, "batch", { failFast: true });
startProcessMetrics("api");
// Requests fail fast (503) while Redis is unreachable; give it a moment at start so the first ones do not.
await Promise.race([once(ctx.redis, "ready"), new Promise((r) => setTimeout(r, 5000).unref())]);
const queues = openQueues(ctx.redis, config.QUEUE_PREFIX);
const app = await buildApp({ ctx, queues });
const stopSweeper = startSweeper(ctx, {
  orphanAgeMs: config.ORPHAN_AGE_MINUTES * 60_000,
  checkpointRetentionMs: config.CHECKPOINT_RETENTION_HOURS * 3_600_000,
  intervalMs: config.SWEEP_INTERVAL_MINUTES * 60_000,
});

onShutdown(
  async () => {
    stopSweeper();
    await app.close();
    // With Redis away, QueueEvents.close() waits for an 'end' its reconnecting connection never emits.
    const closed = await Promise.race([queues.close().then(() => true), delay(QUEUES_CLOSE_MS, false)]);
    if (!closed) logger.warn(`queues not closed after ${QUEUES_CLOSE_MS} ms (Redis away?): exiting anyway`);
    await ctx.close();
  },
  (msg) => logger.info(msg),
);

await app.listen({ port: config.PORT, host: config.HOST });
await ensureFirstAdminKey(ctx, logger);
