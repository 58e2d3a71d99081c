import { type ConnectionOptions, Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import Type, { type Static } from "typebox";

/** Long-running jobs (training, batch inference). */
export const JOBS_QUEUE = "jobs";
/** Dataset ingestion: unpack, decode and check an uploaded archive, then write the report. */
export const INGEST_QUEUE = "ingest";
/** Online prediction requests, micro-batched by predict workers. */
export const PREDICT_QUEUE = "predict";
/** Webhook deliveries: one POST of a finished job to its webhook URL, retried with backoff. */
export const WEBHOOK_QUEUE = "webhooks";

/** Payload of a job on {@link JOBS_QUEUE}: the record in the JobStore holds the rest. */
export const JobPayloadSchema = Type.Object({ jobId: Type.String() });
export type JobPayload = Static<typeof JobPayloadSchema>;

/** Payload of an ingestion job on {@link INGEST_QUEUE}. */
export const IngestPayloadSchema = Type.Object({ datasetId: Type.String() });
export type IngestPayload = Static<typeof IngestPayloadSchema>;

/**
 * Payload of one webhook delivery on {@link WEBHOOK_QUEUE}: the finished job whose record (read at delivery
 * time) is sent, and the delivery's id (the same on every attempt).
 */
export const WebhookPayloadSchema = Type.Object({ jobId: Type.String(), deliveryId: Type.String() });
export type WebhookPayload = Static<typeof WebhookPayloadSchema>;

/** Payload of one online prediction on {@link PREDICT_QUEUE}. */
export const PredictPayloadSchema = Type.Object({
  modelId: Type.String(),
  /** The images, base64. */
  images: Type.Array(Type.String(), { minItems: 1 }),
  topK: Type.Integer({ minimum: 1 }),
  /** Apply the model's unknown rule (default true). */
  unknown: Type.Optional(Type.Boolean()),
});
export type PredictPayload = Static<typeof PredictPayloadSchema>;

/** What a predict worker returns for each image: predictions, or an error reason. */
export type PredictResult = {
  results: (
    | { predictions: { label: string; probability: number }[]; unknown?: boolean }
    | { error: { code: string; message: string } }
  )[];
};

/** How long a command of a fail-fast connection may wait for Redis before it fails. */
export const FAIL_FAST_MS = 2000;

/**
 * A Redis connection for BullMQ and the stores. By default blocking-safe: commands wait out an outage
 * (workers). `failFast` (the API): a command fails at once while Redis is unreachable and after
 * {@link FAIL_FAST_MS} without an answer, so a request can answer 503 instead of hanging.
 */
export function createRedis(url: string, options: { lazy?: boolean; failFast?: boolean } = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    lazyConnect: options.lazy ?? false,
    ...(options.failFast ? { enableOfflineQueue: false, commandTimeout: FAIL_FAST_MS } : {}),
  });
}

/** The queues the API talks to. */
export interface Queues {
  jobs: Queue<JobPayload>;
  ingest: Queue<IngestPayload>;
  predict: Queue<PredictPayload, PredictResult>;
  predictEvents: QueueEvents;
  close(): Promise<void>;
}

/**
 * The webhook queue on a shared connection: every process that records a job's end (the API on a cancel,
 * the train worker otherwise) adds deliveries to it; see src/webhooks/queue.ts.
 */
export function openWebhookQueue(connection: Redis, prefix: string): Queue<WebhookPayload> {
  return new Queue<WebhookPayload>(WEBHOOK_QUEUE, {
    connection: connection as unknown as ConnectionOptions,
    prefix,
    defaultJobOptions: {
      removeOnComplete: { age: 86_400, count: 1000 },
      removeOnFail: { age: 86_400, count: 1000 },
    },
  });
}

/** Opens the queues (and the predict queue's events) under one prefix. */
export function openQueues(connection: Redis, prefix: string): Queues {
  const conn = connection as unknown as ConnectionOptions;
  const jobs = new Queue<JobPayload>(JOBS_QUEUE, { connection: conn, prefix });
  const ingest = new Queue<IngestPayload>(INGEST_QUEUE, {
    connection: conn,
    prefix,
    defaultJobOptions: { removeOnComplete: 1000, removeOnFail: 1000 },
  });
  const predict = new Queue<PredictPayload, PredictResult>(PREDICT_QUEUE, {
    connection: conn,
    prefix,
    // Kept briefly, so that an API waiting on a job that finished at once still finds its result.
    defaultJobOptions: { removeOnComplete: { age: 10, count: 200 }, removeOnFail: { age: 10, count: 200 } },
  });
  // Every request waiting in job.waitUntilFinished() adds a 'closing' listener to the predict queue (and
  // completed/failed listeners to the events): one per in-flight request, not a leak.
  predict.setMaxListeners(0);
  // QueueEvents blocks on XREAD: its connection waits out outages even when the API's fails fast.
  const eventsConnection = connection.duplicate({ enableOfflineQueue: true, commandTimeout: undefined });
  const predictEvents = new QueueEvents(PREDICT_QUEUE, {
    connection: eventsConnection as unknown as ConnectionOptions,
    prefix,
  });
  predictEvents.setMaxListeners(0);
  return {
    jobs,
    ingest,
    predict,
    predictEvents,
    async close() {
      await Promise.allSettled([jobs.close(), ingest.close(), predict.close(), predictEvents.close()]);
      eventsConnection.disconnect();
    },
  };
}
