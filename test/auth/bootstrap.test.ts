/**
 * The first admin key: an API process with AUTH on and no ADMIN_API_KEY makes one at its first start and
 * prints it once; the key works; the next start makes none and prints none. Real API processes
 * (src/server.ts), real Redis.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { Redis } from "ioredis";
import { freePort } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/stack.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Starts the API; resolves once it answers /healthz, with its log so far and a stop function. */
async function startApi(env: Record<string, string>) {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "info" },
  });
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => ((await fetch(`${base}/healthz`).catch(() => undefined))?.ok ? true : undefined),
    60_000,
    "the API to listen",
  );
  await waitFor(async () => (/admin key/.test(out) ? true : undefined), 30_000, "the admin key log line");
  return {
    base,
    log: () => out,
    async stop() {
      child.kill("SIGTERM");
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

test("AUTH on without ADMIN_API_KEY: the first start prints one admin key once; it works; restarts print none", {
  timeout: 120_000,
}, async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "tls-bootstrap-"));
  const prefix = `test-${randomUUID().slice(0, 8)}`;
  const env = { AUTH: "on", DATA_DIR: dataDir, QUEUE_PREFIX: prefix, REDIS_URL };
  const redis = new Redis(REDIS_URL);
  try {
    const first = await startApi(env);
    const lines = first
      .log()
      .split("\n")
      .filter((l) => l.includes("adminKey"));
    assert.equal(lines.length, 1, first.log());
    const key = JSON.parse(lines[0]).adminKey as string;
    assert.match(key, /^tls_key_/);
    const keys = await fetch(`${first.base}/v1/keys`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(keys.status, 200);
    const body = (await keys.json()) as { items: { scopes: string[]; tenant: string }[] };
    assert.deepEqual(
      body.items.map((k) => [k.tenant, k.scopes]),
      [["default", ["admin"]]],
    );
    assert.equal((await fetch(`${first.base}/v1/keys`)).status, 401);
    await first.stop();

    const second = await startApi(env);
    assert.ok(!second.log().includes("adminKey"), "no key is printed again");
    assert.match(second.log(), /an admin key exists/);
    await second.stop();
  } finally {
    const stale = await redis.keys(`${prefix}:*`);
    if (stale.length > 0) await redis.del(...stale);
    await redis.quit();
    await rm(dataDir, { recursive: true, force: true });
  }
});
