import type { Job, Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import { ServiceUnavailableError } from "../errors.js";
import type { PredictPayload, PredictResult } from "../queues.js";

/** Options of {@link awaitPrediction}. */
export interface AwaitPredictionOptions {
  /** The API's Redis connection (for the watchdog's reads). */
  redis: Redis;
  /** The predict queue (its key names). */
  queue: Queue<PredictPayload, PredictResult>;
  events: QueueEvents;
  /** Longest wait for an answer (503 past it, the job removed). */
  timeoutMs: number;
  /** How often the watchdog looks at the job's lock. */
  checkEveryMs: number;
}

/**
 * Waits for an online prediction's result. A watchdog checks the job meanwhile: once a worker has taken
 * it, BullMQ keeps a lock key on it that the worker renews (PREDICT_LOCK_MS); a job taken but neither
 * finished nor locked belongs to a worker that died, so the job is removed and the request answered
 * `503 PREDICT_WORKER_LOST` (Retry-After 1), instead of waiting for the timeout.
 */
export async function awaitPrediction(
  job: Job<PredictPayload, PredictResult>,
  o: AwaitPredictionOptions,
): Promise<PredictResult> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const lost = new Promise<never>((_, reject) => {
    const check = async () => {
      if (stopped) return;
      if (await workerLost(o.redis, o.queue.toKey(String(job.id))).catch(() => false)) {
        await job.remove().catch(() => undefined);
        reject(
          new ServiceUnavailableError(
            "the predict worker handling this request stopped; retry",
            "PREDICT_WORKER_LOST",
            1,
          ),
        );
        return;
      }
      if (!stopped) timer = setTimeout(check, o.checkEveryMs);
    };
    timer = setTimeout(check, o.checkEveryMs);
  });
  lost.catch(() => undefined);
  try {
    return await Promise.race([job.waitUntilFinished(o.events, o.timeoutMs), lost]);
  } catch (err) {
    if (err instanceof ServiceUnavailableError) throw err;
    if (/timed out/i.test((err as Error).message)) {
      await job.remove().catch(() => undefined);
      throw new ServiceUnavailableError(`no predict worker answered within ${o.timeoutMs / 1000} s`);
    }
    throw err;
  } finally {
    stopped = true;
    clearTimeout(timer);
  }
}

/** Whether a worker took the job (processedOn) and it is neither finished nor locked any more. */
async function workerLost(redis: Redis, key: string): Promise<boolean> {
  const replies = await redis.multi().hmget(key, "processedOn", "finishedOn").exists(`${key}:lock`).exec();
  if (!replies) return false;
  const [[, fields], [, locked]] = replies as [[unknown, (string | null)[]], [unknown, number]];
  return fields[0] !== null && fields[1] === null && locked === 0;
}
