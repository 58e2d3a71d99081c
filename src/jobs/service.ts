import { createHash, randomUUID } from "node:crypto";
import { DEFAULT_TENANT } from "../auth/tenant.js";
import type { Context } from "../context.js";
import { ConflictError, NotFoundError, UnprocessableError } from "../errors.js";
import type { Queues } from "../queues.js";
import { notifyWebhook } from "../webhooks/queue.js";
import type { WebhookRequest } from "../webhooks/schemas.js";
import { isTerminal, jobRecordSync } from "./record-sync.js";
import type { JobRecord } from "./schemas.js";

export { isTerminal };

/** A new job id; with an idempotency key, the same key of the same tenant always gives the same id. */
export function newJobId(idempotencyKey?: string, tenant = DEFAULT_TENANT): string {
  if (idempotencyKey) {
    const scoped = tenant === DEFAULT_TENANT ? idempotencyKey : `${tenant}\n${idempotencyKey}`;
    return `job_${createHash("sha256").update(scoped).digest("hex").slice(0, 32)}`;
  }
  return `job_${randomUUID().replaceAll("-", "")}`;
}

/**
 * Records a job and puts it on the jobs queue, BullMQ job id = job id (so re-adding is a no-op). When the
 * id is already known (an idempotent retry), returns the existing record if it was made by the same
 * request, and refuses a different request under the same key. A `webhook` (already checked) is recorded
 * as its URL and delivery state; its secret is stored apart from the record.
 *
 * @throws UnprocessableError `IDEMPOTENCY_KEY_REUSED` when the id's record was made by another request.
 */
export async function enqueueJob(
  ctx: Context,
  queues: Queues,
  job: Pick<JobRecord, "id" | "type" | "params" | "tenant"> & { webhook?: WebhookRequest },
): Promise<{ record: JobRecord; created: boolean }> {
  const { webhook, ...fields } = job;
  const fingerprint = requestFingerprint(job.type, job.params, webhook);
  const record: JobRecord = {
    ...fields,
    state: "queued",
    createdAt: new Date().toISOString(),
    history: [],
    ...(webhook ? { webhook: { url: webhook.url, state: "pending", attempts: [] } } : {}),
  };
  const stored = await ctx.jobs.create(record, fingerprint, webhook?.secret);
  if (!stored.created) {
    if (stored.fingerprint !== fingerprint) {
      throw new UnprocessableError(
        `Idempotency-Key already used for a different request (job '${job.id}'); use a new key for new parameters`,
        "IDEMPOTENCY_KEY_REUSED",
      );
    }
    // A retry after a failure between the record and the queue: adding again is a no-op if it is there.
    if (stored.record.state === "queued") await addToQueue(queues, stored.record);
    return { record: stored.record, created: false };
  }
  await addToQueue(queues, record);
  ctx.logger.info({ jobId: job.id, type: job.type }, "job queued");
  return { record, created: true };
}

async function addToQueue(queues: Queues, job: Pick<JobRecord, "id" | "type">): Promise<void> {
  await queues.jobs.add(
    job.type,
    { jobId: job.id },
    {
      jobId: job.id,
      attempts: 3,
      backoff: { type: "exponential", delay: 1000 },
      removeOnComplete: 1000,
      removeOnFail: 1000,
    },
  );
}

/**
 * SHA-256 of a job's type, parameters (with sorted keys) and webhook: equal for the same request, whatever
 * the order.
 */
function requestFingerprint(type: string, params: unknown, webhook?: WebhookRequest): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  const parts: unknown[] = [type, canonical(params)];
  if (webhook) parts.push([webhook.url, createHash("sha256").update(webhook.secret).digest("hex")]);
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

/**
 * Puts a stored upload on the ingest queue. The BullMQ id comes from the dataset id, so an ingestion is
 * never queued twice; three attempts, for failures that are not the archive's fault.
 */
export async function enqueueIngest(queues: Queues, datasetId: string): Promise<void> {
  await queues.ingest.add(
    "ingest",
    { datasetId },
    { jobId: `ingest-${datasetId}`, attempts: 3, backoff: { type: "exponential", delay: 2000 } },
  );
}

/**
 * Cancels a job: a queued one is taken off the queue at once; a running one is asked to stop (its worker
 * stops within one batch and keeps its checkpoints). 409 when the job has already finished.
 */
export async function cancelJob(ctx: Context, queues: Queues, id: string): Promise<JobRecord> {
  const record = await ctx.jobs.get(id);
  if (!record) throw new NotFoundError("job", id);
  if (isTerminal(record.state))
    throw new ConflictError(`job '${id}' already ${record.state}`, "JOB_FINISHED");
  const bull = await queues.jobs.getJob(id);
  const state = bull ? await bull.getState() : "unknown";
  if (bull && ["waiting", "delayed", "prioritized", "waiting-children"].includes(state)) {
    try {
      await bull.remove();
      await jobRecordSync(ctx.jobs, notifyWebhook(ctx)).cancel(id);
      ctx.logger.info({ jobId: id }, "queued job cancelled");
      return (await ctx.jobs.get(id)) ?? record;
    } catch {
      // Picked up by a worker meanwhile: fall through to a cancel request.
    }
  }
  await ctx.jobs.requestCancel(id);
  ctx.logger.info({ jobId: id }, "cancellation requested");
  return record;
}
