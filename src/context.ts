import type { Redis } from "ioredis";
import { ApiKeyStore } from "./auth/keys.js";
import { BackboneRegistry } from "./backbones/registry.js";
import type { Config } from "./config.js";
import { DatasetStore } from "./datasets/store.js";
import { JobStore } from "./jobs/store.js";
import { ortParallelism } from "./lib/cpu.js";
import { type DataPaths, dataPaths } from "./lib/paths.js";
import type { Logger } from "./logger.js";
import { ModelStore } from "./models/store.js";
import { createRedis } from "./queues.js";

/** Everything a process shares: config, logger, Redis, stores and the backbone registry. */
export interface Context {
  config: Config;
  logger: Logger;
  redis: Redis;
  paths: DataPaths;
  registry: BackboneRegistry;
  datasets: DatasetStore;
  /** API keys (stored hashed). */
  keys: ApiKeyStore;
  jobs: JobStore;
  models: ModelStore;
  close(): Promise<void>;
}

/**
 * What a process runs backbones for: `batch` (training and dataset jobs: throughput) or `online`
 * (single-image predictions: latency). It decides `ORT_WORKERS=auto`.
 */
export type BackboneUse = "batch" | "online";

/**
 * The backbone registry with every backbone and ONNX Runtime setting of `config`, caching compiled and
 * quantized models under `cacheDir`.
 */
export function backboneRegistry(
  config: Config,
  cacheDir: string,
  log: (level: "info" | "warn", msg: string) => void,
  use: BackboneUse = "batch",
): BackboneRegistry {
  return new BackboneRegistry({
    backbonesDir: config.backbonesDir,
    cacheDir,
    defaultId: config.DEFAULT_BACKBONE,
    int8WeightBits: config.int8WeightBits,
    runtime: {
      executionProvider: config.EXECUTION_PROVIDER,
      ...ortParallelism(config.ORT_WORKERS, config.ORT_THREADS, { online: use === "online" }),
      spinning: config.ORT_SPINNING,
      microBatch: config.ORT_MICRO_BATCH,
      log,
    },
    log,
  });
}

/**
 * Wires the shared resources from a validated config, with backbones set up for `use`. `failFast` (the
 * API) makes Redis commands fail within seconds while Redis is away instead of waiting for it.
 */
export function createContext(
  config: Config,
  logger: Logger,
  use: BackboneUse = "batch",
  { failFast = false }: { failFast?: boolean } = {},
): Context {
  const redis = createRedis(config.redisUrl, { failFast });
  redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
  const paths = dataPaths(config.dataDir);
  const registry = backboneRegistry(config, paths.cache, (level, msg) => logger[level](msg), use);
  return {
    config,
    logger,
    redis,
    paths,
    registry,
    datasets: new DatasetStore(paths.datasets),
    jobs: new JobStore(redis, config.QUEUE_PREFIX),
    keys: new ApiKeyStore(redis, config.QUEUE_PREFIX),
    models: new ModelStore(paths.models),
    async close() {
      await registry.close();
      redis.disconnect();
    },
  };
}
