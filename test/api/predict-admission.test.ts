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
import request from "supertest";
import { photo } from "../../scripts/lib/photos.js";
import { type Stack, startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";
import { createJob, uploadPhotos, waitCompleted } from "../workers/train-worker-lib.js";

const MAX_QUEUED = 3;
let stack: Stack;
let modelId: string;
let port: number;

before(async () => {
  stack = await startStack({ PREDICT_MAX_QUEUED: String(MAX_QUEUED), PREDICT_MAX_REQUEST_BYTES: "100000" });
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

test("a predict worker killed with predictions in hand: each request is 503 PREDICT_WORKER_LOST within the lock, nothing stays queued", {
  timeout: 120_000,
}, async (t) => {
  const worker = stack.spawnWorker("predict", { PREDICT_WAIT_MS: "1000", PREDICT_BATCH_SIZE: "64" });
  const n = 4;
  const predict = () =>
    request(stack.app.server)
      .post(`/v1/models/${modelId}/predict`)
      .set("content-type", "image/jpeg")
      .send(photo("coffee"));
  try {
    const warm = await predict();
    assert.equal(warm.status, 200, "the worker has its model loaded");
    const answers = Array.from({ length: n }, () => predict().then((res) => ({ res, at: Date.now() })));
    // The worker holds the predictions while its batcher waits for more (PREDICT_WAIT_MS): freeze it then,
    // so that it dies with all of them in hand.
    while ((await stack.queues.predict.getActiveCount()) < n) {
      assert.equal(
        await stack.queues.predict.getCompletedCount(),
        1,
        "no prediction finished before the kill",
      );
      await new Promise((r) => setTimeout(r, 10));
    }
    worker.child.kill("SIGSTOP");
    worker.child.kill("SIGKILL");
    const killed = Date.now();
    await worker.exited;
    const settled = await Promise.all(answers);
    for (const { res } of settled) {
      assert.equal(res.status, 503, res.text);
      assert.equal(res.body.error.code, "PREDICT_WORKER_LOST");
      assert.equal(res.headers["retry-after"], "1");
    }
    const seconds = settled.map(({ at }) => ((at - killed) / 1000).toFixed(2));
    t.diagnostic(`503 after kill -9: ${seconds.join(", ")} s (PREDICT_LOCK_MS 5000)`);
    const counts = await stack.queues.predict.getJobCounts("active", "waiting", "delayed", "prioritized");
    assert.deepEqual(Object.values(counts), [0, 0, 0, 0], `predictions left: ${JSON.stringify(counts)}`);
  } finally {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL");
    await worker.exited;
  }
});
