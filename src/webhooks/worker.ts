import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from "bullmq";
import Value from "typebox/value";
import type { Context } from "../context.js";
import { isTerminal } from "../jobs/record-sync.js";
import { type JobRecord, JobSchema } from "../jobs/schemas.js";
import type { Logger } from "../logger.js";
import { webhookDeliveries } from "../ops/metrics.js";
import { createRedis, WEBHOOK_QUEUE, type WebhookPayload, WebhookPayloadSchema } from "../queues.js";
import { type CheckedTarget, checkWebhookUrl, WebhookRefusedError } from "./address-check.js";
import { type PostOutcome, postOnce } from "./deliver.js";
import type { WebhookAttempt, WebhookState } from "./schemas.js";
import { signatureOf } from "./sign.js";

/** Sent as `User-Agent` with every delivery. */
export const WEBHOOK_USER_AGENT = "transfer-server-webhook/1";

/** Deliveries one worker sends at once (they wait on the network, not the CPU). */
const CONCURRENCY = 4;

/** The job as GET /v1/jobs/:id shows it: the record without anything its response schema leaves out. */
export function publicJob(record: JobRecord): JobRecord {
  return Value.Clean(JobSchema, structuredClone(record)) as JobRecord;
}

/** The `X-Event` of a finished job: `job.completed`, `job.failed` or `job.cancelled`. */
export function eventOf(record: JobRecord): string {
  return `job.${record.state}`;
}

/**
 * A BullMQ worker that delivers finished jobs' webhooks: each attempt reads the job record (the body is the
 * job as GET /v1/jobs/:id returns it at that moment), checks the URL's address again and connects to the
 * address it checked, POSTs the body signed with the job's secret, and appends the attempt to the record's
 * `webhook.attempts`. A 2xx answer delivers; any other answer, a network error or a timeout fails the
 * attempt, and BullMQ tries again with backoff until `WEBHOOK_ATTEMPTS`; a refused address is final. A
 * delivery's failure never stops the worker.
 */
export function createWebhookWorker(ctx: Context, logger: Logger, concurrency = CONCURRENCY): Worker {
  const connection = createRedis(ctx.config.redisUrl);
  const worker = new Worker<WebhookPayload>(WEBHOOK_QUEUE, (job) => deliverJob(ctx, logger, job), {
    connection: connection as unknown as ConnectionOptions,
    prefix: ctx.config.QUEUE_PREFIX,
    concurrency,
    // An attempt ends within its timeout (plus a name lookup); the lock outlives it.
    lockDuration: ctx.config.WEBHOOK_TIMEOUT_MS + 30_000,
  });
  worker.on("failed", (job, err) => {
    if (!job) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (!final) return;
    // The attempt itself recorded its failure; this covers a delivery BullMQ failed without running it
    // (its worker died too often), whose record would otherwise stay pending.
    void ctx.jobs
      .update(job.data.jobId, (record) =>
        record.webhook?.state === "pending" ? { webhook: { ...record.webhook, state: "failed" } } : {},
      )
      .catch((e: Error) =>
        logger.error({ jobId: job.data.jobId, err: e.message }, "could not record the failure"),
      );
  });
  worker.on("error", (err) =>
    logger.error({ queue: WEBHOOK_QUEUE, err: err.message }, "webhook worker error"),
  );
  worker.on("closed", () => connection.disconnect());
  return worker;
}

/** One attempt of one delivery (the worker's processor). */
async function deliverJob(ctx: Context, logger: Logger, job: Job<WebhookPayload>): Promise<string> {
  if (!Value.Check(WebhookPayloadSchema, job.data))
    throw new UnrecoverableError(`invalid webhook payload: ${JSON.stringify(job.data)}`);
  const { jobId, deliveryId } = job.data;
  const log = logger.child({ jobId, deliveryId });
  const attempt = job.attemptsMade + 1;
  const last = attempt >= (job.opts.attempts ?? 1);
  const record = await ctx.jobs.get(jobId);
  if (!record?.webhook) {
    log.warn("webhook delivery of a job without a webhook (or without a record): nothing to send");
    return "no webhook";
  }
  if (record.webhook.state !== "pending") {
    log.info({ state: record.webhook.state }, "webhook delivery already settled: not sent again");
    return `already ${record.webhook.state}`;
  }
  if (!isTerminal(record.state)) throw new UnrecoverableError(`job '${jobId}' has not ended`);
  const at = new Date().toISOString();
  const secret = await ctx.jobs.webhookSecret(jobId);
  if (!secret) {
    await recordAttempt(
      ctx,
      jobId,
      { attempt, at, error: "the webhook's secret is missing", ms: 0 },
      "failed",
    );
    webhookDeliveries.inc({ result: "failed" });
    log.error("webhook secret missing: delivery failed");
    throw new UnrecoverableError("the webhook's secret is missing");
  }

  let target: CheckedTarget;
  try {
    target = await checkWebhookUrl(record.webhook.url, { allowPrivate: ctx.config.WEBHOOK_ALLOW_PRIVATE });
  } catch (err) {
    if (!(err instanceof WebhookRefusedError) || err.unresolved) {
      return failAttempt(ctx, log, job, { attempt, at, error: (err as Error).message, ms: 0 }, last);
    }
    await recordAttempt(ctx, jobId, { attempt, at, error: err.message, ms: 0 }, "failed");
    webhookDeliveries.inc({ result: "refused" });
    log.warn({ url: record.webhook.url, reason: err.message }, "webhook address refused: delivery failed");
    throw new UnrecoverableError(err.message);
  }

  const body = Buffer.from(JSON.stringify(publicJob(record)));
  const outcome: PostOutcome = await postOnce(
    target,
    body,
    {
      "content-type": "application/json",
      "user-agent": WEBHOOK_USER_AGENT,
      "x-signature-256": signatureOf(body, secret),
      "x-delivery-id": deliveryId,
      "x-delivery-attempt": String(attempt),
      "x-event": eventOf(record),
    },
    ctx.config.WEBHOOK_TIMEOUT_MS,
  );
  const entry: WebhookAttempt = { attempt, at, ...outcome };
  if (outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300) {
    await recordAttempt(ctx, jobId, entry, "delivered");
    webhookDeliveries.inc({ result: "delivered" });
    log.info(
      { attempt, status: outcome.status, ms: outcome.ms, address: target.address },
      "webhook delivered",
    );
    return "delivered";
  }
  return failAttempt(ctx, log, job, entry, last);
}

/** Records a failed attempt (the delivery failed when it was the last) and throws, so that BullMQ retries. */
async function failAttempt(
  ctx: Context,
  log: Logger,
  job: Job<WebhookPayload>,
  entry: WebhookAttempt,
  last: boolean,
): Promise<never> {
  await recordAttempt(ctx, job.data.jobId, entry, last ? "failed" : "pending");
  webhookDeliveries.inc({ result: last ? "failed" : "retry" });
  log[last ? "error" : "warn"](
    { attempt: entry.attempt, status: entry.status, err: entry.error, ms: entry.ms, final: last },
    last ? "webhook delivery failed after its last attempt" : "webhook attempt failed; it will be retried",
  );
  throw new Error(entry.error ?? `the receiver answered ${entry.status}`);
}

/** Appends an attempt to the record's webhook and sets its state. */
async function recordAttempt(
  ctx: Context,
  jobId: string,
  entry: WebhookAttempt,
  state: WebhookState,
): Promise<void> {
  await ctx.jobs.update(jobId, (record) =>
    record.webhook
      ? { webhook: { ...record.webhook, state, attempts: [...record.webhook.attempts, entry] } }
      : {},
  );
}
