/**
 * The training worker as a process: per-epoch timings in the history, broken images skipped with a
 * warning (the worker survives them), and cancellation of a running job. One real worker process serves
 * every test of this file, in order, so that each test also shows the worker is still alive and serving.
 * Measured figures are printed as test diagnostics.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { open, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import request from "supertest";
import type { DatasetItem } from "../../src/datasets/schemas.js";
import { modelIdForJob } from "../../src/models/store.js";
import { loadCheckpoint } from "../../src/training/checkpoint.js";
import { type Stack, startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";
import {
  alive,
  assertHistoryEpochs,
  assertOneModelFor,
  closeStack,
  createJob,
  getJob,
  logLines,
  modelFolders,
  pollJob,
  uploadPhotos,
  waitCompleted,
} from "./train-worker-lib.js";

let stack: Stack;
let worker: WorkerProcess;
/** 2 classes x 16 training photos + 4 test photos each; features cached by the first test. */
let datasetId: string;

before(async () => {
  stack = await startStack();
  worker = stack.spawnWorker("train");
  datasetId = await uploadPhotos(stack, { train: 16, test: 4 }, 31);
});
after(() => closeStack(stack));

function assertWorkerAlive(): void {
  assert.ok(alive(worker), `the worker process is still running:\n${worker.output().slice(-3000)}`);
  const failed = logLines(worker).filter((l) => l.msg === "job attempt failed" || l.level === 60);
  assert.deepEqual(failed, [], "no failed attempt or fatal error was logged");
}

test("a completed job records the wall time of every epoch", async (t) => {
  const epochs = 6;
  const jobId = await createJob(stack, datasetId, {
    epochs,
    batchSize: 4,
    earlyStopping: null,
    augment: false,
  });
  const done = await waitCompleted(stack, jobId, worker);
  assertHistoryEpochs(done.history, epochs);
  for (const h of done.history) {
    assert.equal(typeof h.seconds, "number", `epoch ${h.epoch} has seconds`);
    assert.ok(Number.isFinite(h.seconds) && h.seconds > 0, `epoch ${h.epoch}: seconds ${h.seconds}`);
  }
  const [first, ...later] = done.history.map((h) => h.seconds);
  const mean = later.reduce((a, b) => a + b, 0) / later.length;
  t.diagnostic(
    `epoch seconds (32 train + 8 val photos, batch 4, features extracted in epoch 1): first ${first}, ` +
      `later ${JSON.stringify(later)} (mean ${mean.toFixed(3)}), first/later ${(first / mean).toFixed(1)}x`,
  );
  await assertOneModelFor(stack, jobId, done.modelId);
  assertWorkerAlive();
});

test("broken images inside a dataset are skipped with a warning and the worker survives", async (t) => {
  const id = await uploadPhotos(stack, { train: 8, test: 2 }, 41);
  const items = await stack.ctx.datasets.items(id);
  const cats = items.train.filter((i) => i.label === "cat");
  const coffees = items.train.filter((i) => i.label === "coffee");
  const garbage = cats[0].path;
  const truncated = coffees[0].path;
  const missing = coffees[1].path;
  const emptyVal = items.test![0].path;
  // The upload decoded every image; break some afterwards, as a disk or a careless operator might: random
  // bytes over one image in the pack, and index entries cut short, past the end, or empty.
  const pack = stack.ctx.datasets.packPath(id);
  const garbageAt = cats[0].at!;
  const handle = await open(pack, "r+");
  await handle.write(randomBytes(garbageAt[1]), 0, garbageAt[1], garbageAt[0]);
  await handle.close();
  const packSize = (await stat(pack)).size;
  const breakItem = (i: DatasetItem): DatasetItem => {
    const [offset, length] = i.at!;
    if (i.path === truncated) return { ...i, at: [offset, Math.floor(length * 0.3)] };
    if (i.path === missing) return { ...i, at: [packSize + 4096, length] };
    if (i.path === emptyVal) return { ...i, at: [offset, 0] };
    return i;
  };
  await writeFile(
    path.join(stack.ctx.datasets.dir(id), "items.json"),
    JSON.stringify({ train: items.train.map(breakItem), test: items.test!.map(breakItem) }),
  );
  const broken = [garbage, truncated, missing, emptyVal];

  const before = await modelFolders(stack);
  const jobId = await createJob(stack, id, { epochs: 2, batchSize: 4, earlyStopping: null });
  const done = await waitCompleted(stack, jobId, worker);
  assert.equal(done.state, "completed");
  assertHistoryEpochs(done.history, 2);
  const skipped = (done.warnings ?? []).filter((w) => w.startsWith("skipped "));
  for (const p of broken) {
    assert.ok(
      skipped.some((w) => w.startsWith(`skipped ${p}: `)),
      `a warning names ${p}: ${JSON.stringify(done.warnings)}`,
    );
  }
  assert.equal(skipped.length, broken.length, JSON.stringify(done.warnings));
  t.diagnostic(`warnings: ${JSON.stringify(done.warnings)}`);
  await assertOneModelFor(stack, jobId, done.modelId, before);
  // The model was evaluated on the test split without its broken image.
  const model = await request(stack.app.server).get(`/v1/models/${done.modelId}`);
  assert.equal(model.status, 200);
  const perClass = model.body.metrics.perClass as Record<string, { support: number }>;
  assert.equal(
    Object.values(perClass).reduce((a, c) => a + c.support, 0),
    items.test!.length - 1,
  );
  assertWorkerAlive();
});

test("DELETE on a running job cancels it within a batch, keeps its checkpoint and writes no model", async (t) => {
  const jobId = await createJob(stack, datasetId, { epochs: 40, batchSize: 2, earlyStopping: null, seed: 3 });
  await pollJob(stack, jobId, (j) => j.history.length >= 1 && j.state === "running", "a running job", {
    worker,
    timeoutMs: 60_000,
  });
  const asked = Date.now();
  const del = await request(stack.app.server).delete(`/v1/jobs/${jobId}`);
  assert.equal(del.status, 202, JSON.stringify(del.body));
  assert.equal(del.body.id, jobId);
  const cancelled = await pollJob(stack, jobId, (j) => j.state === "cancelled", "state cancelled", {
    worker,
    timeoutMs: 5_000,
  });
  t.diagnostic(
    `cancelled ${(Date.now() - asked) / 1000}s after DELETE, after ${cancelled.history.length} epochs`,
  );
  assert.ok(cancelled.history.length < 40);
  assert.ok(cancelled.finishedAt);

  // Training stopped: no epoch is added later, the BullMQ job ends without failing.
  await new Promise((r) => setTimeout(r, 1000));
  const later = await getJob(stack, jobId);
  assert.equal(later.state, "cancelled");
  assert.deepEqual(later.history, cancelled.history);
  const bull = await stack.queues.jobs.getJob(jobId);
  await waitFor(
    async () => ((await bull?.getState()) === "completed" ? true : undefined),
    5_000,
    "BullMQ job done",
  );

  // The checkpoint is kept; no model exists.
  const ckDir = path.join(stack.ctx.paths.checkpoints, jobId);
  assert.ok((await readdir(ckDir)).length > 0, "the checkpoint folder is kept");
  const ck = await loadCheckpoint(ckDir);
  assert.ok(ck && ck.epoch >= later.history.length, "the checkpoint holds the completed epochs");
  assert.equal(later.modelId, undefined);
  assert.ok(!(await modelFolders(stack)).includes(modelIdForJob(jobId)), "no model folder for the job");
  const model = await request(stack.app.server).get(`/v1/models/${modelIdForJob(jobId)}`);
  assert.equal(model.status, 404);

  const again = await request(stack.app.server).delete(`/v1/jobs/${jobId}`);
  assert.equal(again.status, 409, JSON.stringify(again.body));
  assert.equal(typeof again.body.error?.code, "string");
  assertWorkerAlive();
});
