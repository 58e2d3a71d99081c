/**
 * SIGTERM on the API (src/server.ts, a real process) while its Redis is away: killed (connections
 * refused, ioredis between reconnect attempts) or frozen (SIGSTOP: connections open, nothing answered).
 * The API must still exit 0 within seconds instead of waiting for Redis until a supervisor kills it. With
 * Redis up, a request in flight at SIGTERM still gets its answer before the process exits.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import { imageEntries, rawZip } from "../helpers/archives.js";
import { freePort, type OwnRedis, startOwnRedis } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/stack.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");

/** The API as a child process. */
interface ApiProcess {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves once the API's output matches `pattern` `times` times. */
  printed(pattern: RegExp, times?: number): Promise<void>;
  /** Resolves once GET /healthz answers 200. */
  healthy(): Promise<void>;
}

/** Spawns `src/server.ts` on a free port against `redisUrl`, with its own data folder. */
async function startApi(redisUrl: string, dataDir: string): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "src", "server.ts")], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `test-${randomUUID().slice(0, 8)}`,
      LOG_LEVEL: "info",
    },
  });
  let out = "";
  const append = (d: Buffer) => {
    out += d;
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const printed = (pattern: RegExp, times = 1) =>
    new Promise<void>((resolve, reject) => {
      const all = new RegExp(pattern.source, "g");
      const check = () => {
        if ((out.match(all) ?? []).length < times) return;
        child.stdout?.off("data", check);
        child.stderr?.off("data", check);
        child.off("exit", gone);
        resolve();
      };
      const gone = () => reject(new Error(`the API exited before printing ${pattern}:\n${out.slice(-3000)}`));
      child.stdout?.on("data", check);
      child.stderr?.on("data", check);
      child.once("exit", gone);
      check();
    });
  const base = `http://127.0.0.1:${port}`;
  const healthy = async () => {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the API exited with ${child.exitCode}:\n${out}`);
        return (await fetch(`${base}/healthz`).catch(() => undefined))?.ok ? true : undefined;
      },
      40_000,
      `the API on ${base}`,
    );
  };
  return { child, base, output: () => out, exited, printed, healthy };
}

/** Sends SIGTERM to the API and waits for it to exit; reports how long that took. */
async function terminate(t: TestContext, api: ApiProcess, label: string): Promise<number | null> {
  const started = performance.now();
  api.child.kill("SIGTERM");
  const code = await api.exited;
  t.diagnostic(`${label}: exit ${code} ${((performance.now() - started) / 1000).toFixed(2)} s after SIGTERM`);
  return code;
}

/**
 * Runs `body` with an own Redis, a data folder and an API on them; cleans all three up. The API is killed
 * if the test times out, so that a hanging shutdown fails the test instead of blocking the run.
 */
async function withApi(
  t: TestContext,
  body: (redis: OwnRedis, api: ApiProcess) => Promise<void>,
): Promise<void> {
  const redis = await startOwnRedis();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "tls-shutdown-"));
  let api: ApiProcess | undefined;
  const abort = () => api?.child.kill("SIGKILL");
  t.signal.addEventListener("abort", abort);
  try {
    api = await startApi(redis.url, dataDir);
    await api.healthy();
    await body(redis, api);
  } finally {
    t.signal.removeEventListener("abort", abort);
    if (api && api.child.exitCode === null && api.child.signalCode === null) {
      api.child.kill("SIGKILL");
      await api.exited;
    }
    redis.resume();
    await redis.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

test("SIGTERM with Redis killed: the API exits 0 without waiting for Redis", {
  timeout: 60_000,
}, async (t) => {
  await withApi(t, async (redis, api) => {
    await redis.kill();
    // A few failed reconnects: the connections now wait between attempts, as during a real outage.
    await api.printed(/redis connection error/, 3);
    const code = await terminate(t, api, "Redis killed");
    assert.equal(code, 0, api.output().slice(-3000));
  });
});

test("SIGTERM with Redis frozen: the API exits 0 without waiting for Redis", {
  timeout: 60_000,
}, async (t) => {
  await withApi(t, async (redis, api) => {
    redis.pause();
    const code = await terminate(t, api, "Redis frozen");
    assert.equal(code, 0, api.output().slice(-3000));
  });
});

test("SIGTERM with Redis up: an upload in flight is answered, then the API exits 0", {
  timeout: 60_000,
}, async (t) => {
  await withApi(t, async (_redis, api) => {
    const boundary = `----tls${randomUUID()}`;
    const head = Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="data.zip"\r\n` +
        "content-type: application/zip\r\n\r\n",
    );
    const zip = await rawZip(imageEntries(["cat", "coffee"], 2));
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const body = Buffer.concat([head, zip, tail]);
    const half = Math.floor(body.length / 2);
    const req = http.request(`${api.base}/v1/datasets`, {
      method: "POST",
      agent: false,
      headers: { "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": body.length },
    });
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      req.once("response", (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.once("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.once("error", reject);
      });
      req.once("error", reject);
    });
    req.write(body.subarray(0, half));
    await api.printed(/"url":"\/v1\/datasets".*incoming request/);

    const started = performance.now();
    api.child.kill("SIGTERM");
    await api.printed(/SIGTERM: shutting down/);
    req.end(body.subarray(half));
    const res = await answered;
    assert.equal(res.status, 202, res.text);
    const code = await api.exited;
    t.diagnostic(
      `Redis up, upload in flight: exit ${code} ${((performance.now() - started) / 1000).toFixed(2)} s`,
    );
    assert.equal(code, 0, api.output().slice(-3000));
    assert.doesNotMatch(api.output(), /queues not closed/);
  });
});
