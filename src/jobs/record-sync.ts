import { randomUUID } from "node:crypto";
import { type JobErrorInfo, JobFailure } from "./job-error.js";
import type { JobRecord } from "./schemas.js";
import type { JobStore } from "./store.js";

/**
 * The transitions of the record a queue job works on (a job record, a dataset), each called by the job
 * lifecycle at the moment BullMQ's own state of the job changes, so the two never disagree.
 */
export interface RecordSync<R> {
  /**
   * A worker starts an attempt: false when the record is already final (nothing left to do). Throws a
   * {@link JobFailure} when the record does not exist.
   */
  start(id: string): Promise<boolean>;
  /** The handler finished: the job completed, with `result` merged into the record. */
  complete(id: string, result: R): Promise<void>;
  /** The handler stopped on a cancel request. */
  cancel(id: string): Promise<void>;
  /** An attempt failed and BullMQ will run the job again. */
  retry(id: string): Promise<void>;
  /** The worker is shutting down and put the job back on the queue (a drain). */
  handBack(id: string): Promise<void>;
  /** The last attempt failed (or the failure is final): the record keeps why. */
  fail(id: string, error: JobErrorInfo): Promise<void>;
}

const TERMINAL = new Set<JobRecord["state"]>(["completed", "failed", "cancelled"]);

/** Whether a job state is final. */
export function isTerminal(state: JobRecord["state"]): boolean {
  return TERMINAL.has(state);
}

/** What a finished job adds to its record (a model id, a batch prediction's result, its history...). */
export type JobResult = Partial<Omit<JobRecord, "id" | "type" | "state" | "error">>;

/** Told of every job that has just ended (completed, failed, cancelled), with its final record. */
export type JobEndListener = (record: JobRecord) => Promise<void>;

/**
 * The transitions of a job record (GET /v1/jobs/:id): `running` with one more attempt on start, `queued`
 * while BullMQ retries or after a hand-back, then `completed`, `cancelled` or `failed` with its finish time.
 * The three ends are written here and nowhere else; each gives a job with a webhook its delivery id (once)
 * and then calls `onEnd` (which queues the delivery).
 */
export function jobRecordSync(store: JobStore, onEnd?: JobEndListener): RecordSync<JobResult> {
  const now = () => new Date().toISOString();
  const set = async (id: string, patch: Partial<JobRecord>) => {
    await store.update(id, patch);
  };
  const end = async (id: string, patch: Partial<JobRecord>) => {
    const record = await store.update(id, (job) => ({
      ...patch,
      finishedAt: now(),
      ...(job.webhook
        ? { webhook: { ...job.webhook, deliveryId: job.webhook.deliveryId ?? newDeliveryId() } }
        : {}),
    }));
    if (record && onEnd) await onEnd(record);
  };
  return {
    async start(id) {
      const record = await store.get(id);
      if (!record) throw new JobFailure("JOB_NOT_FOUND", `no record for job '${id}'`);
      if (isTerminal(record.state)) return false;
      await set(id, {
        state: "running",
        startedAt: record.startedAt ?? now(),
        attempts: (record.attempts ?? 0) + 1,
      });
      return true;
    },
    complete: (id, result) => end(id, { ...result, state: "completed" }),
    cancel: (id) => end(id, { state: "cancelled" }),
    retry: (id) => set(id, { state: "queued" }),
    handBack: (id) => set(id, { state: "queued" }),
    fail: (id, error) => end(id, { state: "failed", error }),
  };
}

/** A new webhook delivery id: one per job end, sent as X-Delivery-Id on every attempt. */
function newDeliveryId(): string {
  return `dlv_${randomUUID().replaceAll("-", "")}`;
}

/** A job's parameters, read from its record; {@link JobFailure} `JOB_NOT_FOUND` when there is none. */
export async function jobParams<T>(store: JobStore, id: string): Promise<T> {
  const record = await store.get(id);
  if (!record) throw new JobFailure("JOB_NOT_FOUND", `no record for job '${id}'`);
  return record.params as T;
}
