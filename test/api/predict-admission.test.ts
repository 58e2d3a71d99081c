/**
 * Admission control of /predict: a request whose images exceed PREDICT_MAX_REQUEST_BYTES together is 413
 * before anything is queued; past PREDICT_MAX_QUEUED waiting predictions the API answers 503 PREDICT_BUSY
 * with Retry-After instead of queueing without bound; a client that hangs up has its waiting prediction
 * dropped. A real model trained by a real worker; no predict worker runs until the end, so requests wait.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import sharp from "sharp";
import request from "supertest";
import { photo } from "../../scripts/lib/photos.js";
import { assertError } from "../helpers/archives.js";
import { claimedPng } from "../helpers/images.js";
import { type Stack, startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";
import { createJob, uploadPhotos, waitCompleted } from "../workers/train-worker-lib.js";

const MAX_QUEUED = 3;
let stack: Stack;
let modelId: string;
let port: number;

before(async () => {
  stack = await startStack({
    PREDICT_MAX_QUEUED: String(MAX_QUEUED),
    PREDICT_MAX_REQUEST_BYTES: "100000",
    PREDICT_MAX_REQUEST_PIXELS: "2000000",
  });
  const worker: WorkerProcess = stack.spawnWorker("train");
  const datasetId = await uploadPhotos(stack, { train: 6, test: 2 }, 29);
  const jobId = await createJob(stack, datasetId, { epochs: 2, batchSize: 4, hiddenUnits: 16 });
  const done = await waitCompleted(stack, jobId, worker, 180_000);
  modelId = done.modelId as string;
  worker.child.kill("SIGKILL");
  await worker.exited;
  await stack.app.listen({ port: 0, host: "127.0.0.1" });
  port = (stack.app.server.address() as AddressInfo).port;
});
after(() => stack.close());

/** A raw-JPEG predict request that stays open until `abort` is called. */
function pendingPredict(): { abort: () => void; settled: Promise<void> } {
  const body = photo("cat");
  const req = http.request({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: `/v1/models/${modelId}/predict`,
    headers: { "content-type": "image/jpeg", "content-length": body.length },
  });
  const settled = new Promise<void>((resolve) => {
    req.on("error", () => resolve());
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve());
    });
  });
  req.end(body);
  return { abort: () => req.destroy(), settled };
}

test("a request whose images exceed PREDICT_MAX_REQUEST_BYTES together is 413 and queues nothing", async () => {
  let req = request(stack.app.server).post(`/v1/models/${modelId}/predict`);
  for (let i = 0; i < 6; i++) req = req.attach("image", photo("coffee"), `coffee-${i}.jpg`);
  const res = await req;
  assert.equal(res.status, 413, res.text);
  assert.equal(res.body.error.code, "PAYLOAD_TOO_LARGE");
  assert.match(res.body.error.message, /100000 bytes together/);
  assert.equal(await stack.queues.predict.getWaitingCount(), 0);
});

test("images that decode to more than PREDICT_MAX_REQUEST_PIXELS together are 413 and queue nothing", async () => {
  const huge = await request(stack.app.server)
    .post(`/v1/models/${modelId}/predict`)
    .set("content-type", "image/png")
    .send(claimedPng(7000, 7000));
  assertError(huge, 413, "PAYLOAD_TOO_LARGE");
  assert.match(huge.body.error.message, /49\.0 M pixels.*PREDICT_MAX_REQUEST_PIXELS/);
  const square = await sharp({ create: { width: 1300, height: 1300, channels: 3, background: "#468" } })
    .png()
    .toBuffer();
  let req = request(stack.app.server).post(`/v1/models/${modelId}/predict`);
  for (let i = 0; i < 2; i++) req = req.attach("image", photo("cat"), `cat-${i}.jpg`);
  const many = await req.attach("image", square, "square.png");
  assertError(many, 413, "PAYLOAD_TOO_LARGE");
  assert.match(many.body.error.message, /2\.1 M pixels/, "2 x 500x375 JPEG + 1300x1300 PNG");
  assert.equal(await stack.queues.predict.getWaitingCount(), 0);
});

test("past PREDICT_MAX_QUEUED waiting predictions: 503 PREDICT_BUSY; clients that hang up are dropped", async () => {
  const pending = Array.from({ length: MAX_QUEUED }, () => pendingPredict());
  await waitFor(
    async () => ((await stack.queues.predict.getWaitingCount()) === MAX_QUEUED ? true : undefined),
    30_000,
    `${MAX_QUEUED} waiting predictions`,
  );
  const busy = await request(stack.app.server)
    .post(`/v1/models/${modelId}/predict`)
    .set("content-type", "image/jpeg")
    .send(photo("cat"));
  assert.equal(busy.status, 503, busy.text);
  assert.equal(busy.body.error.code, "PREDICT_BUSY");
  assert.equal(busy.headers["retry-after"], "1");
  assert.equal(
    await stack.queues.predict.getWaitingCount(),
    MAX_QUEUED,
    "the refused request queued nothing",
  );

  for (const p of pending) p.abort();
  await Promise.all(pending.map((p) => p.settled));
  await waitFor(
    async () => ((await stack.queues.predict.getWaitingCount()) === 0 ? true : undefined),
    30_000,
    "the predictions of the clients that hung up to be dropped",
  );

  const worker = stack.spawnWorker("predict");
  try {
    const ok = await request(stack.app.server)
      .post(`/v1/models/${modelId}/predict`)
      .set("content-type", "image/jpeg")
      .send(photo("cat"));
    assert.equal(ok.status, 200, ok.text);
    assert.ok(Array.isArray(ok.body.predictions));
  } finally {
    worker.child.kill("SIGKILL");
    await worker.exited;
  }
});

test("a predict worker killed with predictions in hand: their requests are 503 PREDICT_WORKER_LOST within the lock, nothing stays queued", {
  timeout: 180_000,
}, async (t) => {
  const first = stack.spawnWorker("predict", { PREDICT_WAIT_MS: "1000", PREDICT_BATCH_SIZE: "64" });
  let second: WorkerProcess | undefined;
  const predict = () =>
    request(stack.app.server)
      .post(`/v1/models/${modelId}/predict`)
      .set("content-type", "image/jpeg")
      .send(photo("coffee"));
  try {
    const warm = await predict();
    assert.equal(warm.status, 200, "the worker has its model loaded");
    const answered: { status: number; code?: string; retryAfter?: string; at: number }[] = [];
    // MAX_QUEUED of them: none can be refused as PREDICT_BUSY, however slowly the worker takes them.
    const answers = Array.from({ length: MAX_QUEUED }, () =>
      predict().then((res) => {
        answered.push({
          status: res.status,
          code: res.body.error?.code,
          retryAfter: res.headers["retry-after"],
          at: Date.now(),
        });
      }),
    );
    // The worker holds what it took while its batcher waits for company (PREDICT_WAIT_MS): freeze it as
    // soon as it holds one, count what it holds, and kill it.
    while ((await stack.queues.predict.getActiveCount()) === 0) await new Promise((r) => setTimeout(r, 5));
    first.child.kill("SIGSTOP");
    const held = await stack.queues.predict.getActiveCount();
    assert.ok(held >= 1, "the frozen worker holds a prediction");
    first.child.kill("SIGKILL");
    const killed = Date.now();
    await first.exited;
    const lost = () => answered.filter((a) => a.status === 503);
    await waitFor(async () => (lost().length >= held ? true : undefined), 60_000, `${held} answers 503`);
    for (const a of lost()) {
      assert.equal(a.code, "PREDICT_WORKER_LOST");
      assert.equal(a.retryAfter, "1");
    }
    const seconds = lost().map((a) => ((a.at - killed) / 1000).toFixed(2));
    t.diagnostic(
      `${held} held by the killed worker: 503 after ${seconds.join(", ")} s (PREDICT_LOCK_MS 5000)`,
    );

    second = stack.spawnWorker("predict");
    await Promise.all(answers);
    assert.equal(lost().length, held, "only the predictions the dead worker held are lost");
    assert.ok(
      answered.every((a) => a.status === 200 || a.code === "PREDICT_WORKER_LOST"),
      JSON.stringify(answered),
    );
    const counts = await stack.queues.predict.getJobCounts("active", "waiting", "delayed", "prioritized");
    assert.deepEqual(Object.values(counts), [0, 0, 0, 0], `predictions left: ${JSON.stringify(counts)}`);
  } finally {
    for (const w of [first, second]) {
      if (w && w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
      await w?.exited;
    }
  }
});
