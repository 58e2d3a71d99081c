import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Worker } from "bullmq";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { type Context, createContext } from "../../src/context.js";
import { createIngestWorker } from "../../src/datasets/ingest-worker.js";
import { createLogger } from "../../src/logger.js";
import { openQueues, type Queues } from "../../src/queues.js";
import { createWebhookWorker } from "../../src/webhooks/worker.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");

/** A worker process started by a test. */
export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** A private API + workers stack: unique queue prefix, temporary DATA_DIR, real Redis. */
export interface Stack {
  app: Awaited<ReturnType<typeof buildApp>>;
  ctx: Context;
  queues: Queues;
  env: Record<string, string>;
  dataDir: string;
  /** Starts `workers/<kind>.ts` as a child process with the stack's environment. */
  spawnWorker(kind: "train" | "predict", extraEnv?: Record<string, string>): WorkerProcess;
  close(): Promise<void>;
}

/**
 * Builds the app in-process (not listening) with a unique prefix and data folder (a new temporary one, or
 * `dataDir`, which close() then leaves), and (unless `ingest` is false) an in-process ingestion worker on
 * the stack's queue, as a training worker process runs one; likewise (unless `webhooks` is false) an
 * in-process webhook delivery worker.
 */
export async function startStack(
  env: Record<string, string> = {},
  options: { ingest?: boolean; webhooks?: boolean; dataDir?: string } = {},
): Promise<Stack> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "tls-test-")));
  const fullEnv: Record<string, string> = {
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `test-${randomUUID().slice(0, 8)}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    WORKER_LOCK_MS: "4000",
    WORKER_STALLED_INTERVAL_MS: "1000",
    ...env,
  };
  const config = loadConfig(fullEnv);
  const ctx = createContext(config, createLogger(config.LOG_LEVEL, "test"), "batch", { failFast: true });
  // The API's connection fails fast: wait until it is up, so no request of a test meets a 503 at start.
  if (ctx.redis.status !== "ready") await once(ctx.redis, "ready");
  const queues = openQueues(ctx.redis, config.QUEUE_PREFIX);
  const app = await buildApp({ ctx, queues });
  await app.ready();
  const ingest: Worker | undefined =
    options.ingest === false ? undefined : createIngestWorker(ctx, ctx.logger, 1);
  const webhooks: Worker | undefined =
    options.webhooks === false ? undefined : createWebhookWorker(ctx, ctx.logger);
  const workers: WorkerProcess[] = [];
  return {
    app,
    ctx,
    queues,
    env: fullEnv,
    dataDir,
    spawnWorker(kind, extraEnv = {}) {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "workers", `${kind}.ts`)], {
        cwd: ROOT,
        env: { ...process.env, ...fullEnv, LOG_LEVEL: "info", ...extraEnv },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout?.on("data", (d) => {
        out += d;
      });
      child.stderr?.on("data", (d) => {
        out += d;
      });
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      const w = { child, output: () => out, exited };
      workers.push(w);
      return w;
    },
    async close() {
      for (const w of workers)
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.exited));
      await ingest?.close();
      await webhooks?.close();
      await app.close();
      await queues.jobs.obliterate({ force: true }).catch(() => undefined);
      await queues.predict.obliterate({ force: true }).catch(() => undefined);
      await queues.ingest.obliterate({ force: true }).catch(() => undefined);
      const keys = await ctx.redis.keys(`${config.QUEUE_PREFIX}:*`);
      if (keys.length > 0) await ctx.redis.del(...keys);
      await queues.close();
      await ctx.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
