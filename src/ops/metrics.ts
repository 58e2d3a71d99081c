import os from "node:os";
import type { Redis } from "ioredis";
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * The process's Prometheus metrics. Every process (API, train worker, predict worker) fills this one
 * registry; workers publish it to Redis ({@link publishMetrics}) and the API's `GET /metrics` serves its
 * own metrics with every live worker's, each process's series labelled by `instance`.
 */
export const registry = new Registry();

/** `/predict` requests, from the API's reception to its answer, by status class. */
export const predictLatency = new Histogram({
  name: "tls_predict_request_seconds",
  help: "Duration of POST /v1/models/:id/predict requests in the API",
  labelNames: ["status"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

/** Images per backbone batch in the predict worker. */
export const predictBatchSize = new Histogram({
  name: "tls_predict_batch_size",
  help: "Images in each backbone batch of the predict worker",
  buckets: [1, 2, 4, 8, 16, 32, 64, 128],
  registers: [registry],
});

/** Model cache lookups of the predict worker. */
export const modelCache = new Counter({
  name: "tls_model_cache_requests_total",
  help: "Model lookups of the predict worker, by hit or miss of its LRU cache",
  labelNames: ["result"] as const,
  registers: [registry],
});

/** Queue jobs by name and outcome. */
export const jobDuration = new Histogram({
  name: "tls_job_duration_seconds",
  help: "Duration of one attempt of a queue job (ingest, train, predict), by outcome",
  labelNames: ["job", "outcome"] as const,
  buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
  registers: [registry],
});

/** Training epochs. */
export const epochDuration = new Histogram({
  name: "tls_epoch_duration_seconds",
  help: "Duration of one training epoch of the head",
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

/** The backbone's throughput in the last feature extraction. */
export const extractionRate = new Gauge({
  name: "tls_extraction_images_per_second",
  help: "Images per second of the latest feature extraction of this worker",
  registers: [registry],
});

/** Webhook delivery attempts by result. */
export const webhookDeliveries = new Counter({
  name: "tls_webhook_deliveries_total",
  help: "Webhook delivery attempts, by result: delivered (2xx), retry (failed, tried again), failed (the last attempt failed), refused (address not allowed)",
  labelNames: ["result"] as const,
  registers: [registry],
});

/** Queues whose job counts `tls_queue_jobs` reports at each scrape (the API's). */
export const queueSources = new Set<{
  name: string;
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}>();

const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "completed", "failed"];

/** Jobs per queue and state, read from BullMQ when scraped. */
export const queueJobs = new Gauge({
  name: "tls_queue_jobs",
  help: "Jobs in each BullMQ queue, by state",
  labelNames: ["queue", "state"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    for (const queue of queueSources) {
      const counts = await queue.getJobCounts(...QUEUE_STATES).catch(() => undefined);
      for (const [state, n] of Object.entries(counts ?? {})) this.set({ queue: queue.name, state }, n);
    }
  },
});

/** Labels every series of this process and starts the process metrics (CPU, memory, event loop). */
export function startProcessMetrics(role: string): void {
  registry.setDefaultLabels({ role, instance: `${role}-${os.hostname()}-${process.pid}` });
  collectDefaultMetrics({ register: registry });
}

const key = (prefix: string) => `${prefix}:tls:metrics:${os.hostname()}:${process.pid}`;

/**
 * Publishes this process's metrics to Redis every `everyMs` (they expire after 3 periods, so a dead
 * worker's series vanish); returns a stop function that publishes once more.
 */
export function publishMetrics(redis: Redis, prefix: string, everyMs = 5000): () => Promise<void> {
  const publish = async () => {
    const json = JSON.stringify(await registry.getMetricsAsJSON());
    await redis.set(key(prefix), json, "PX", everyMs * 3).catch(() => undefined);
  };
  void publish();
  const timer = setInterval(() => void publish(), everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await publish();
  };
}

/** Prometheus text of this process's metrics and of every worker's published ones. */
export async function collectMetrics(redis: Redis, prefix: string): Promise<string> {
  const own = await registry.getMetricsAsJSON();
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}:tls:metrics:*`, "COUNT", 200);
    cursor = next;
    keys.push(...found.filter((k) => k !== key(prefix)));
  } while (cursor !== "0");
  const published = keys.length > 0 ? await redis.mget(keys) : [];
  const workers = published.flatMap((raw) => (raw ? [JSON.parse(raw) as object] : []));
  return AggregatorRegistry.aggregate([own, ...workers]).metrics();
}
