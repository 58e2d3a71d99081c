/**
 * `npm start` (scripts/start-all.ts) and Ctrl-C: a terminal sends SIGINT to the whole foreground process
 * group (the launcher and every child), and the launcher then sends each child SIGTERM. One Ctrl-C must
 * drain like one SIGTERM: the epoch in progress finishes and is checkpointed, the job goes back to the
 * queue, and everything exits cleanly. The test starts the real launcher in its own process group and
 * signals the group, as a terminal does.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { Redis } from "ioredis";
import { photoDatasetZip } from "../../scripts/lib/photos.js";
import { loadCheckpoint } from "../../src/training/checkpoint.js";
import { freePort } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/stack.js";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");

test("one Ctrl-C on npm start drains: the epoch is checkpointed, the job goes back to the queue, exit 0", {
  timeout: 300_000,
}, async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "tls-start-"));
  const port = await freePort();
  const prefix = `test-${randomUUID().slice(0, 8)}`;
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const redis = new Redis(redisUrl);
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start-all.ts"], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      QUEUE_PREFIX: prefix,
      REDIS_URL: redisUrl,
      LOG_LEVEL: "info",
    },
  });
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => ((await fetch(`${base}/healthz`).catch(() => undefined))?.ok ? true : undefined),
      120_000,
      `the API on ${base}:\n${out.slice(-2000)}`,
    );
    const form = new FormData();
    const zip = await photoDatasetZip(["cat", "coffee"], { train: 16, test: 4 }, 23);
    form.append("file", new Blob([zip]), "photos.zip");
    const upload = await fetch(`${base}/v1/datasets`, { method: "POST", body: form });
    assert.equal(upload.status, 202, await upload.clone().text());
    const { id: datasetId } = (await upload.json()) as { id: string };
    await waitFor(
      async () => {
        const ds = (await (await fetch(`${base}/v1/datasets/${datasetId}`)).json()) as { state: string };
        assert.notEqual(ds.state, "failed");
        return ds.state === "ready" ? true : undefined;
      },
      120_000,
      "the dataset",
    );
    const posted = await fetch(`${base}/v1/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ datasetId, epochs: 500, batchSize: 2, earlyStopping: null }),
    });
    assert.equal(posted.status, 202);
    const { id: jobId } = (await posted.json()) as { id: string };
    await waitFor(
      async () => {
        const job = (await (await fetch(`${base}/v1/jobs/${jobId}`)).json()) as { history: unknown[] };
        return job.history.length >= 1 ? true : undefined;
      },
      120_000,
      "a trained epoch",
    );

    process.kill(-(child.pid as number), "SIGINT");
    const code = await exited;
    t.diagnostic(
      out
        .split("\n")
        .filter((l) => /draining|shutting down|handed back/.test(l))
        .join("\n"),
    );
    assert.equal(code, 0, out.slice(-3000));
    assert.doesNotMatch(out, /exiting now/, "no process gave up its drain");
    assert.match(
      out,
      /still draining/,
      "the launcher's SIGTERM after the SIGINT did not cut the drain short",
    );
    const record = JSON.parse((await redis.get(`${prefix}:tls:job:${jobId}`)) ?? "{}");
    assert.equal(record.state, "queued", "the job went back to the queue");
    const ck = await loadCheckpoint(path.join(dataDir, "checkpoints", jobId));
    assert.ok(ck && ck.epoch >= record.history.length, "the epoch in progress was checkpointed");
    assert.ok(ck.epoch < 500);
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), "SIGKILL");
    await exited;
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  }
});
