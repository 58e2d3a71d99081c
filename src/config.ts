import path from "node:path";
import Type, { type Static } from "typebox";
import Value from "typebox/value";

/** Environment variables the project reads, with their defaults. */
export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: "127.0.0.1" }),
  /**
   * Host names (comma-separated, `name` or `name:port`, `*` for any) a request's Host header may carry; by
   * default the loopback names when HOST is a loopback address (against DNS rebinding), else any.
   */
  ALLOWED_HOSTS: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9.:\\[\\]*,_-]+$" })),
  /** Origins (comma-separated, e.g. `https://app.example.com`) allowed to call the API from a browser. */
  CORS_ORIGINS: Type.Optional(Type.String({ pattern: "^https?://[^,\\s]+(,https?://[^,\\s]+)*$" })),
  /** `auto`: API keys required unless HOST is a loopback address; `on`; `off`. */
  AUTH: Type.Enum(["auto", "on", "off"], { default: "auto" }),
  /** An admin key of the default tenant (else a first one is generated at first start and logged once). */
  ADMIN_API_KEY: Type.Optional(Type.String({ minLength: 24, maxLength: 256 })),
  /** Requests per key (per client address without keys) and minute; default 600 with keys, none without. */
  RATE_LIMIT_PER_MINUTE: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  /** Datasets a tenant may keep (0: no limit). */
  QUOTA_DATASETS: Type.Integer({ minimum: 0, default: 0 }),
  /** MiB of datasets (uploads and their packs) a tenant may keep (0: no limit). */
  QUOTA_STORAGE_MB: Type.Integer({ minimum: 0, default: 0 }),
  /** Queued and running jobs a tenant may have at once (0: no limit). */
  QUOTA_CONCURRENT_JOBS: Type.Integer({ minimum: 0, default: 0 }),
  DATA_DIR: Type.String({ minLength: 1, default: "./data" }),
  REDIS_URL: Type.Optional(Type.String({ pattern: "^rediss?://" })),
  QUEUE_PREFIX: Type.String({ pattern: "^[A-Za-z0-9_.:-]+$", default: "tls" }),
  BACKBONES_DIR: Type.Optional(Type.String({ minLength: 1 })),
  DEFAULT_BACKBONE: Type.String({ minLength: 1, default: "mobilenet_v2" }),
  LOG_LEVEL: Type.Enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], { default: "info" }),
  /** `auto`: pino-pretty's coloured lines when stdout is a terminal, JSON lines otherwise; `json`; `pretty`. */
  LOG_FORMAT: Type.Enum(["auto", "json", "pretty"], { default: "auto" }),
  /** `cpu`, `cuda` or `auto` (CUDA when the add-on and a device are present, else CPU). */
  EXECUTION_PROVIDER: Type.Enum(["auto", "cpu", "cuda"], { default: "auto" }),
  /**
   * Threads ONNX Runtime uses inside one operator, per session (per worker with ORT_WORKERS); 0 picks: the
   * cores shared out among the workers, or ONNX Runtime's own choice without workers.
   */
  ORT_THREADS: Type.Integer({ minimum: 0, maximum: 256, default: 0 }),
  /**
   * Worker threads that run ONNX Runtime CPU sessions in parallel, each on its own slices of a batch;
   * `auto`: one per core, at most 4, in training and dataset jobs, and none (one session on all cores) in
   * the predict worker, whose single images cannot be split; 0: one session on the main thread everywhere.
   */
  ORT_WORKERS: Type.Union([Type.Integer({ minimum: 0, maximum: 64 }), Type.Literal("auto")], {
    default: "auto",
  }),
  /** Whether ONNX Runtime's idle threads spin-wait (faster alone, wasteful beside image decoding). */
  ORT_SPINNING: Type.Boolean({ default: false }),
  /**
   * Largest batch one ONNX Runtime CPU run takes; bigger batches run in slices of this size, which keeps
   * MobileNetV2's activations in cache (0: never split; CUDA never splits).
   */
  ORT_MICRO_BATCH: Type.Integer({ minimum: 0, maximum: 1024, default: 4 }),
  /**
   * Bits of int8 weights for quantized backbones: `auto` (8 on CPUs with VNNI, else 7), or `7` on every
   * machine of a mixed fleet so that all of them compute the same features.
   */
  INT8_WEIGHT_BITS: Type.Enum(["auto", "7", "8"], { default: "auto" }),
  MAX_UPLOAD_BYTES: Type.Integer({ minimum: 1, default: 2 * 1024 ** 3 }),
  MAX_ARCHIVE_FILES: Type.Integer({ minimum: 1, default: 200_000 }),
  MAX_UNPACKED_BYTES: Type.Integer({ minimum: 1, default: 8 * 1024 ** 3 }),
  MAX_IMAGE_PIXELS: Type.Integer({ minimum: 1, default: 50_000_000 }),
  TRAIN_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  /** Datasets each training worker ingests at once (0: this worker ingests none). */
  INGEST_CONCURRENCY: Type.Integer({ minimum: 0, maximum: 16, default: 1 }),
  PREDICT_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 1024, default: 16 }),
  /** With 0, a request runs at once when the backbone is idle and waits for the running batch otherwise. */
  PREDICT_WAIT_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 0 }),
  /**
   * How long a worker's lock on a job lasts without renewal; a killed worker's job is handed out after it.
   * A thread of each worker renews it every quarter of this, even while the main thread is busy.
   */
  WORKER_LOCK_MS: Type.Integer({ minimum: 1000, maximum: 600_000, default: 8000 }),
  /** How often workers look for stalled jobs (those whose worker died). */
  WORKER_STALLED_INTERVAL_MS: Type.Integer({ minimum: 500, maximum: 600_000, default: 4000 }),
  /**
   * Lock of a predict worker on the predictions it holds, renewed at half this: a request whose worker died
   * is answered 503 PREDICT_WORKER_LOST (and its prediction removed) at most this long after.
   */
  PREDICT_LOCK_MS: Type.Integer({ minimum: 1000, maximum: 600_000, default: 5000 }),
  MODEL_CACHE_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 4 }),
  /** Online predictions waiting for a worker, past which `/predict` answers 503 PREDICT_BUSY. */
  PREDICT_MAX_QUEUED: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 256 }),
  /** Largest `/predict` request, all its images together (413 past it). */
  PREDICT_MAX_REQUEST_BYTES: Type.Integer({ minimum: 1, default: 64 * 1024 * 1024 }),
  /**
   * Free space (MiB) the API keeps on DATA_DIR's disk: an upload that would leave less is refused with 507
   * before it is read, and `/readyz` reports the disk as low below it.
   */
  MIN_FREE_DISK_MB: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 1024 }),
  /**
   * Pixels the decoder may hold for all images of one `/predict` request together (JPEG and WebP count at
   * their shrink-on-load size, 16-bit images twice); 413 past it, so one costly request cannot stall the
   * predict worker for the others.
   */
  PREDICT_MAX_REQUEST_PIXELS: Type.Integer({ minimum: 1, default: 40_000_000 }),
  /** Checkpoints of a finished job are removed this many hours after it finished (0: at the next sweep). */
  CHECKPOINT_RETENTION_HOURS: Type.Number({ minimum: 0, maximum: 100_000, default: 24 }),
  /** Leftovers of interrupted writes (uploads, temporary folders) older than this many minutes are removed. */
  ORPHAN_AGE_MINUTES: Type.Number({ minimum: 1, maximum: 100_000, default: 60 }),
  /** Minutes between two sweeps by the API (at start, then periodically). */
  SWEEP_INTERVAL_MINUTES: Type.Number({ minimum: 1, maximum: 100_000, default: 60 }),
  /**
   * Whether webhook URLs may resolve to loopback, private (RFC 1918), link-local, unique-local, CGNAT or
   * other non-public addresses; checked when a job is created and again before each delivery.
   */
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false }),
  /** Attempts of one webhook delivery (the first included) before it is recorded as failed. */
  WEBHOOK_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 50, default: 5 }),
  /** Delay before the first retry of a webhook delivery; each further retry waits twice as long. */
  WEBHOOK_BACKOFF_MS: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 2000 }),
  /** How long one webhook attempt may take, from connecting to the end of the answer. */
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 300_000, default: 10_000 }),
});

export type Env = Static<typeof EnvSchema>;

/** Validated configuration: environment plus derived absolute paths. */
export interface Config extends Env {
  dataDir: string;
  backbonesDir?: string;
  redisUrl: string;
  /** True when REDIS_URL was not given (the launcher may start a local redis-server). */
  redisUrlDefaulted: boolean;
  /** INT8_WEIGHT_BITS as a number; undefined for `auto` (the backbone registry asks the CPU). */
  int8WeightBits?: 7 | 8;
}

/** Thrown by {@link loadConfig} with every bad variable listed. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/**
 * Reads and validates configuration from an environment (process.env by default), once.
 * Fails with a {@link ConfigError} naming each bad variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.keys(EnvSchema.properties);
  const raw: Record<string, unknown> = {};
  for (const key of known) {
    const v = env[key];
    if (v !== undefined && v !== "") raw[key] = v;
  }
  const withDefaults = Value.Default(EnvSchema, raw);
  const converted = Value.Convert(EnvSchema, withDefaults) as Record<string, unknown>;
  const byName = new Map<string, string>();
  for (const e of Value.Errors(EnvSchema, converted)) {
    const name = e.instancePath.replace(/^\//, "") || "(env)";
    if (!byName.has(name)) byName.set(name, `${name}=${JSON.stringify(raw[name] ?? "")}: ${e.message}`);
  }
  const problems = [...byName.values()];
  if (problems.length > 0) throw new ConfigError(problems);
  const parsed = converted as Env;
  return {
    ...parsed,
    dataDir: path.resolve(parsed.DATA_DIR),
    backbonesDir: parsed.BACKBONES_DIR ? path.resolve(parsed.BACKBONES_DIR) : undefined,
    redisUrl: parsed.REDIS_URL ?? "redis://127.0.0.1:6379",
    redisUrlDefaulted: parsed.REDIS_URL === undefined,
    int8WeightBits: parsed.INT8_WEIGHT_BITS === "auto" ? undefined : parsed.INT8_WEIGHT_BITS === "8" ? 8 : 7,
  };
}
