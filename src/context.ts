import type { Redis } from "ioredis";
import { BackboneRegistry } from "./backbones/registry.js";
import type { Config } from "./config.js";
import { DatasetStore } from "./datasets/store.js";
import { JobStore } from "./jobs/store.js";
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
  jobs: JobStore;
  models: ModelStore;
  close(): Promise<void>;
}

/**
 * The backbone registry with every backbone and ONNX Runtime setting of `config`, caching compiled and
 * quantized models under `cacheDir`.
 */
export function backboneRegistry(
  config: Config,
  cacheDir: string,
  log: (level: "info" | "warn", msg: string) => void,
): BackboneRegistry {
  return new BackboneRegistry({
    backbonesDir: config.backbonesDir,
    cacheDir,
    defaultId: config.DEFAULT_BACKBONE,
    int8WeightBits: config.int8WeightBits,
    runtime: {
      executionProvider: config.EXECUTION_PROVIDER,
      threads: config.ORT_THREADS,
      spinning: config.ORT_SPINNING,
      microBatch: config.ORT_MICRO_BATCH,
      log,
    },
    log,
  });
}

/** Wires the shared resources from a validated config. */
export function createContext(config: Config, logger: Logger): Context {
  const redis = createRedis(config.redisUrl);
  redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
  const paths = dataPaths(config.dataDir);
  const registry = backboneRegistry(config, paths.cache, (level, msg) => logger[level](msg));
  return {
    config,
    logger,
    redis,
    paths,
    registry,
    datasets: new DatasetStore(paths.datasets),
    jobs: new JobStore(redis, config.QUEUE_PREFIX),
    models: new ModelStore(paths.models),
    async close() {
      await registry.close();
      redis.disconnect();
    },
  };
}
