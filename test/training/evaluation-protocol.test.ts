/**
 * The evaluation protocol of API.md revision 2, end to end through the API and a real train worker: the
 * `test` split never steers training. Two datasets share their training images and differ only in the
 * labels of their test images (swapped in the second); every training decision (validation history, early
 * stopping, best epoch, temperature, unknown threshold, the weights) must come out identical, and only the
 * test metrics may differ. Any use of `test` for a decision makes this test fail.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import request from "supertest";
import { photoVariants, zipOf } from "../../scripts/lib/photos.js";
import type { ModelManifest } from "../../src/models/schemas.js";
import { createDataset } from "../helpers/archives.js";
import { type Stack, startStack, type WorkerProcess } from "../helpers/stack.js";
import { closeStack, createJob, waitCompleted } from "../workers/train-worker-lib.js";

let stack: Stack;
let worker: WorkerProcess;

before(async () => {
  stack = await startStack();
  worker = stack.spawnWorker("train");
});
after(() => closeStack(stack));

async function upload(entries: Record<string, Buffer>): Promise<string> {
  return createDataset(stack, await zipOf(entries), "d.zip");
}

async function trainAndRead(datasetId: string) {
  const jobId = await createJob(stack, datasetId, {
    epochs: 6,
    batchSize: 8,
    learningRate: 0.01,
    validationSplit: 0.25,
    earlyStopping: { patience: 1, minDelta: 0.05 },
  });
  const job = await waitCompleted(stack, jobId, worker, 180_000);
  const model = (await request(stack.app.server).get(`/v1/models/${job.modelId}`)).body as ModelManifest;
  const weights = await readFile(path.join(stack.ctx.models.dir(job.modelId!), "weights.bin"));
  return { job, model, weights };
}

test("the test split never reaches early stopping, epoch choice, calibration or the unknown threshold", async () => {
  const cats = await photoVariants("cat", 20, 501);
  const coffees = await photoVariants("coffee", 20, 502);
  const train: Record<string, Buffer> = {};
  for (let i = 0; i < 16; i++) {
    train[`train/cat/c${i}.jpg`] = cats[i];
    train[`train/coffee/k${i}.jpg`] = coffees[i];
  }
  const honest = { ...train };
  const swapped = { ...train };
  for (let i = 16; i < 20; i++) {
    honest[`test/cat/c${i}.jpg`] = cats[i];
    honest[`test/coffee/k${i}.jpg`] = coffees[i];
    swapped[`test/cat/k${i}.jpg`] = coffees[i];
    swapped[`test/coffee/c${i}.jpg`] = cats[i];
  }
  const a = await trainAndRead(await upload(honest));
  const b = await trainAndRead(await upload(swapped));

  assert.equal(a.model.metrics.split, "test");
  assert.equal(b.model.metrics.split, "test");
  assert.ok(
    a.job.history.every((h) => h.valLoss !== undefined),
    "validation comes from train",
  );
  assert.deepEqual(
    b.job.history.map(({ seconds, ...h }) => h),
    a.job.history.map(({ seconds, ...h }) => h),
  );
  assert.equal(b.model.params.bestEpoch, a.model.params.bestEpoch);
  assert.equal(b.model.params.epochsRun, a.model.params.epochsRun);
  assert.deepEqual(b.model.calibration, a.model.calibration);
  assert.deepEqual(b.model.openSet, a.model.openSet);
  assert.deepEqual(b.model.validationMetrics, a.model.validationMetrics);
  assert.ok(b.weights.equals(a.weights), "the saved heads are byte for byte the same");
  assert.ok(a.model.metrics.accuracy >= 0.75, `honest test accuracy ${a.model.metrics.accuracy}`);
  assert.ok(b.model.metrics.accuracy <= 0.25, `swapped test accuracy ${b.model.metrics.accuracy}`);
  assert.ok(a.model.calibration && a.model.calibration.temperature > 0);
  assert.ok(a.model.openSet && a.model.openSet.validationRejectRate <= 0.25);
});
