import type { Queue } from "bullmq";
import type { Context } from "../context.js";
import type { JobEndListener } from "../jobs/record-sync.js";
import type { JobRecord } from "../jobs/schemas.js";
import { openWebhookQueue, type WebhookPayload } from "../queues.js";

const queues = new WeakMap<Context, Queue<WebhookPayload>>();

/** The webhook queue on the context's Redis connection, opened once per context. */
export function webhookQueue(ctx: Context): Queue<WebhookPayload> {
  let queue = queues.get(ctx);
  if (!queue) {
    queue = openWebhookQueue(ctx.redis, ctx.config.QUEUE_PREFIX);
    queue.on("error", (err) => ctx.logger.warn({ err: err.message }, "webhook queue error"));
    queues.set(ctx, queue);
  }
  return queue;
}

/** The BullMQ id of a job's delivery: from the job id, so that publishing a job's end twice adds it once. */
export function deliveryJobId(jobId: string): string {
  return `webhook-${jobId}`;
}

/**
 * Queues the delivery of a finished job's webhook (a no-op for a job without one, or whose delivery is
 * already queued): `WEBHOOK_ATTEMPTS` attempts, exponential backoff from `WEBHOOK_BACKOFF_MS`.
 */
export async function enqueueDelivery(ctx: Context, record: JobRecord): Promise<void> {
  const deliveryId = record.webhook?.deliveryId;
  if (!deliveryId) return;
  const { WEBHOOK_ATTEMPTS, WEBHOOK_BACKOFF_MS } = ctx.config;
  await webhookQueue(ctx).add(
    "deliver",
    { jobId: record.id, deliveryId },
    {
      jobId: deliveryJobId(record.id),
      attempts: WEBHOOK_ATTEMPTS,
      backoff: { type: "exponential", delay: WEBHOOK_BACKOFF_MS },
    },
  );
  ctx.logger.info({ jobId: record.id, deliveryId, state: record.state }, "webhook delivery queued");
}

/**
 * The job-end listener of a process's job records: queues the webhook delivery of a job that has one. A
 * failure to queue is logged, never thrown: the job's own end is already recorded and stands.
 */
export function notifyWebhook(ctx: Context): JobEndListener {
  return async (record) => {
    if (!record.webhook) return;
    try {
      await enqueueDelivery(ctx, record);
    } catch (err) {
      ctx.logger.error(
        { jobId: record.id, err: (err as Error).message },
        "could not queue the webhook delivery",
      );
    }
  };
}
