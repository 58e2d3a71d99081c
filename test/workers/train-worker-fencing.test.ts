/**
 * One owner per job: a worker that loses its job's lock (frozen, or cut off from Redis, for longer than
 * the lock) while another worker takes the job over stops at its next batch and writes nothing more: no
 * checkpoint, no history, no model. Real worker processes, real Redis, real photos; the freeze is a real
 * SIGSTOP of the first worker's process.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import request from "supertest";
import { loadCheckpoint } from "../../src/training/checkpoint.js";
import { startOwnRedis } from "../helpers/redis-server.js";
import { type Stack, startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";
import {
  alive,
  assertHistoryEpochs,
  assertOneModelFor,
  closeStack,
  createJob,
  epochsLogged,
  logLines,
  modelFolders,
  pollJob,
  stopWorker,
  uploadPhotos,
  waitCompleted,
} from "./train-worker-lib.js";

/** 2 classes x 16 photos, batch size 2: about 0.2 s an epoch; 40 epochs leave time to freeze and thaw. */
const EPOCHS = 40;

let stack: Stack;
let datasetId: string;

before(async () => {
  stack = await startStack();
  datasetId = await uploadPhotos(stack, { train: 16, test: 4 }, 13);
});
after(() => closeStack(stack));

test("a frozen worker whose job went to another stops without writing: one trainer per epoch, one model", async (t) => {
  const models = await modelFolders(stack);
  const jobId = await createJob(stack, datasetId, { epochs: EPOCHS, batchSize: 2, earlyStopping: null });
  let w1: WorkerProcess | undefined;
  let w2: WorkerProcess | undefined;
  try {
    w1 = stack.spawnWorker("train");
    await pollJob(stack, jobId, (j) => j.history.length >= 2, ">= 2 epochs", {
      worker: w1,
      timeoutMs: 90_000,
    });
    w1.child.kill("SIGSTOP");
    const frozen = Date.now();

    w2 = stack.spawnWorker("train");
    const second = w2;
    await waitFor(
      async () => (epochsLogged(second, jobId).length >= 3 ? true : undefined),
      120_000,
      "the second worker to train 3 epochs of the job",
    );
    t.diagnostic(`job handed over and 3 epochs trained ${(Date.now() - frozen) / 1000}s after the freeze`);
    // What the first worker logged before its freeze, read once the pipe has long been drained.
    const beforeThaw = epochsLogged(w1, jobId);
    w1.child.kill("SIGCONT");
    const first = w1;
    await waitFor(
      async () => (logLines(first).some((l) => /lost the job's lock/.test(String(l.msg))) ? true : undefined),
      60_000,
      "the thawed worker to notice that it lost the job",
    );

    const done = await waitCompleted(stack, jobId, w2);
    assert.equal(done.state, "completed", JSON.stringify(done.error));
    assertHistoryEpochs(done.history, EPOCHS);
    const byFirst = epochsLogged(w1, jobId);
    const bySecond = epochsLogged(w2, jobId);
    assert.deepEqual(byFirst, beforeThaw, "the first worker finished no epoch after it was thawed");
    assert.ok(
      byFirst.every((e) => e < Math.min(...bySecond)),
      `each epoch trained by one worker: ${byFirst} / ${bySecond}`,
    );
    const dir = path.join(stack.ctx.paths.checkpoints, jobId);
    const seqs = (await readdir(dir)).flatMap((n) => /^ckpt-(\d{8})\.json$/.exec(n)?.slice(1) ?? []);
    assert.equal(
      Math.max(...seqs.map(Number)),
      EPOCHS,
      "one checkpoint per epoch: the thawed worker saved none",
    );
    assert.equal((await loadCheckpoint(dir))?.epoch, EPOCHS);
    await assertOneModelFor(stack, jobId, done.modelId, models);
    assert.ok(alive(w1), "the worker that lost the job lives on");
  } finally {
    await stopWorker(w1);
    await stopWorker(w2);
  }
});

test("Redis killed mid-training for longer than the lock: once back, each epoch is trained by one worker, one model", async (t) => {
  const redis = await startOwnRedis();
  const own = await startStack({ REDIS_URL: redis.url });
  let a: WorkerProcess | undefined;
  let b: WorkerProcess | undefined;
  try {
    const dataset = await uploadPhotos(own, { train: 16, test: 4 }, 17);
    const jobId = await createJob(own, dataset, { epochs: EPOCHS, batchSize: 2, earlyStopping: null });
    a = own.spawnWorker("train");
    b = own.spawnWorker("train");
    await pollJob(own, jobId, (j) => j.history.length >= 2, ">= 2 epochs", { worker: a, timeoutMs: 90_000 });
    await redis.kill();
    // The fault is a duration: Redis stays away for three lock durations (or FAULT_REDIS_OUTAGE_MS, to
    // rerun it by hand with the 90 s of the original report), so the job's lock expires and the workers
    // cannot renew it; the one that trains keeps computing but may write nothing.
    const outageMs = Number(process.env.FAULT_REDIS_OUTAGE_MS ?? 3 * Number(own.env.WORKER_LOCK_MS));
    await new Promise((r) => setTimeout(r, outageMs));
    await redis.restart();
    const back = Date.now();
    // The test's own view of Redis (the API's connection, which fails fast) reconnects too.
    if (own.ctx.redis.status !== "ready") await once(own.ctx.redis, "ready");

    const done = await waitCompleted(own, jobId, a, 180_000);
    t.diagnostic(`Redis away ${outageMs / 1000}s; the job completed ${(Date.now() - back) / 1000}s after`);
    assert.equal(done.state, "completed", JSON.stringify(done.error));
    assertHistoryEpochs(done.history, EPOCHS);
    const logged = [...epochsLogged(a, jobId), ...epochsLogged(b, jobId)].sort((x, y) => x - y);
    assert.deepEqual(logged, [...new Set(logged)], `an epoch was trained twice: ${logged}`);
    const dir = path.join(own.ctx.paths.checkpoints, jobId);
    const seqs = (await readdir(dir)).flatMap((n) => /^ckpt-(\d{8})\.json$/.exec(n)?.slice(1) ?? []);
    assert.equal(Math.max(...seqs.map(Number)), EPOCHS, "checkpoint sequence = epochs");
    await assertOneModelFor(own, jobId, done.modelId);
    assert.ok(alive(a) && alive(b), "both workers outlive the outage");
  } finally {
    await stopWorker(a);
    await stopWorker(b);
    await redis.restart();
    if (own.ctx.redis.status !== "ready") await once(own.ctx.redis, "ready");
    await own.close();
    await redis.close();
  }
});

test("GET /v1/jobs/:id says stalled while its only worker is frozen; thawed, the worker takes the job up again", async () => {
  const models = await modelFolders(stack);
  const jobId = await createJob(stack, datasetId, {
    epochs: EPOCHS,
    batchSize: 2,
    earlyStopping: null,
    seed: 4,
  });
  const w = stack.spawnWorker("train");
  try {
    await pollJob(stack, jobId, (j) => j.history.length >= 1, ">= 1 epoch", { worker: w, timeoutMs: 90_000 });
    const live = await request(stack.app.server).get(`/v1/jobs/${jobId}`);
    assert.equal(live.body.stalled, false, "a job whose worker renews its lock is not stalled");
    w.child.kill("SIGSTOP");
    const seen = await waitFor(
      async () => {
        const res = await request(stack.app.server).get(`/v1/jobs/${jobId}`);
        return res.body.stalled === true ? res.body : undefined;
      },
      60_000,
      "the job to show stalled",
    );
    assert.equal(seen.state, "running");
    w.child.kill("SIGCONT");
    const done = await waitCompleted(stack, jobId, w, 180_000);
    assert.equal(done.state, "completed", JSON.stringify(done.error));
    assert.equal(done.stalled, undefined);
    assertHistoryEpochs(done.history, EPOCHS);
    await assertOneModelFor(stack, jobId, done.modelId, models);
  } finally {
    await stopWorker(w);
  }
});
