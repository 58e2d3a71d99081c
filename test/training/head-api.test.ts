import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { Rng } from "../../src/lib/rng.js";
import { type HeadParams, HeadTrainer } from "../../src/training/head.js";
import { clusters, DIM, maxDiff, params, stateDiff } from "../helpers/head-data.js";

const data = clusters(600, DIM, 3, 1);
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "head-api-test-"));
});
after(() => rm(dir, { recursive: true, force: true }));

const tuned: HeadParams = { ...params, labelSmoothing: 0.1, classWeights: Float32Array.of(1, 2, 0.5) };

test("resuming is bit-identical after two more epochs, with dropout, label smoothing and class weights", async () => {
  const straight = await HeadTrainer.create(tuned);
  const rngA = new Rng(8);
  for (let e = 0; e < 3; e++) await straight.trainEpoch(data.x, data.y, { batchSize: 40, rng: rngA });
  const expected = await straight.getState();
  straight.dispose();

  const first = await HeadTrainer.create(tuned);
  assert.deepEqual(
    (await first.getState()).optimizer.map((a) => [a.name, a.dtype, a.shape]),
    [["iter", "int32", []]],
  );
  const rngB = new Rng(8);
  await first.trainEpoch(data.x, data.y, { batchSize: 40, rng: rngB });
  const saved = await first.getState();
  first.dispose();
  const suffixes = ["kernel/m", "bias/m", "kernel/m", "bias/m", "kernel/v", "bias/v", "kernel/v", "bias/v"];
  assert.deepEqual(
    saved.optimizer.slice(1).map((a, i) => a.name.endsWith(`/${suffixes[i]}`) && a.dtype === "float32"),
    suffixes.map(() => true),
  );
  assert.deepEqual(
    saved.optimizer.slice(1).map((a) => a.shape),
    [...saved.weights, ...saved.weights].map((w) => w.shape),
  );

  const resumed = await HeadTrainer.fromState(tuned, saved);
  const rngC = new Rng(rngB.state);
  for (let e = 0; e < 2; e++) await resumed.trainEpoch(data.x, data.y, { batchSize: 40, rng: rngC });
  const got = await resumed.getState();
  resumed.dispose();
  assert.equal(got.optimizer[0].data[0], 45);
  assert.equal(stateDiff(got, expected), 0);
  assert.deepEqual(
    got.optimizer.map((a) => a.name),
    saved.optimizer.map((a) => a.name),
  );
});

test("label smoothing and class weights still learn the clusters; setLearningRate takes effect", async () => {
  const head = await HeadTrainer.create(tuned);
  const rng = new Rng(6);
  for (let e = 0; e < 5; e++) await head.trainEpoch(data.x, data.y, { batchSize: 32, rng });
  const result = head.evaluate(data.x, data.y);
  assert.ok(result.accuracy > 0.95, `accuracy ${result.accuracy}`);
  const before = head.getWeights();
  head.setLearningRate(1e-9);
  await head.trainEpoch(data.x, data.y, { batchSize: 32, rng });
  const after = head.getWeights();
  assert.ok(
    before.every((w, i) => maxDiff(w.data, after[i].data) < 1e-7),
    "a tiny rate barely moves the weights",
  );
  assert.throws(() => head.setLearningRate(0), RangeError);
  head.dispose();
});

test("getWeights returns copies; setWeights restores them exactly and checks shapes", async () => {
  const head = await HeadTrainer.create(params);
  const best = head.getWeights();
  assert.deepEqual(
    best.map((w) => [w.name, w.shape]),
    [
      ["hidden/kernel", [DIM, 32]],
      ["hidden/bias", [32]],
      ["output/kernel", [32, 3]],
      ["output/bias", [3]],
    ],
  );
  const probe = data.x.subarray(0, 20 * DIM);
  const bestLogits = head.logits(probe, 20);
  await head.trainEpoch(data.x, data.y, { batchSize: 64, rng: new Rng(2) });
  assert.ok(maxDiff(head.getWeights()[0].data, best[0].data) > 1e-4, "training moved the weights");
  head.setWeights(best);
  assert.deepEqual(head.getWeights(), best);
  assert.deepEqual(head.logits(probe, 20), bestLogits);
  best[0].data[0] += 1;
  assert.notEqual(head.getWeights()[0].data[0], best[0].data[0]);
  assert.throws(() => head.setWeights(best.slice(0, 3)), RangeError);
  assert.throws(() => head.setWeights([{ ...best[0], shape: [32, DIM] }, ...best.slice(1)]), RangeError);
  head.dispose();
});

test("logits in chunks agree; predictProba is their softmax; evaluate reports the mean cross-entropy", async () => {
  const head = await HeadTrainer.create(params);
  await head.trainEpoch(data.x, data.y, { batchSize: 64, rng: new Rng(3) });
  const logits = head.logits(data.x, 600);
  assert.equal(logits.length, 600 * 3);
  assert.ok(maxDiff(head.logits(data.x, 600, 7), logits) < 1e-5);
  assert.ok(maxDiff(head.logits(data.x.subarray(5 * DIM), 10), logits.subarray(15, 45)) < 1e-5);
  const proba = head.predictProba(data.x, 600);
  let ce = 0;
  for (let i = 0; i < 600; i++) {
    const row = Array.from(logits.subarray(i * 3, i * 3 + 3));
    const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(proba[i * 3 + c] - Math.exp(row[c] - lse)) < 1e-6);
    ce += lse - row[data.y[i]];
  }
  const result = head.evaluate(data.x, data.y, 100);
  assert.ok(Math.abs(result.loss - ce / 600) < 1e-5, `${result.loss} vs ${ce / 600}`);
  assert.throws(() => head.logits(data.x.subarray(0, DIM), 2), RangeError);
  head.dispose();
});

test("saveModel with a transform: the head saved for raw features gives softmax(logits(z) / T) within 1e-4", async () => {
  const head = await HeadTrainer.create(params);
  await head.trainEpoch(data.x, data.y, { batchSize: 32, rng: new Rng(4) });
  const rng = new Rng(10);
  const mean = Float32Array.from({ length: DIM }, () => rng.next() * 4 - 2);
  const invStd = Float32Array.from({ length: DIM }, () => 0.5 + rng.next() * 1.5);
  const temperature = 1.7;
  const n = 40;
  const z = data.x.subarray(0, n * DIM);
  const raw = z.map((v, i) => v / invStd[i % DIM] + mean[i % DIM]);
  const logits = head.logits(z, n);
  const out = path.join(dir, "folded");
  await head.saveModel(out, { mean, invStd, temperature });
  const plain = path.join(dir, "plain");
  await head.saveModel(plain);
  head.dispose();

  const folded = await HeadTrainer.loadForInference(out);
  const got = folded.predictProba(raw, n);
  folded.dispose();
  for (let i = 0; i < n; i++) {
    const row = Array.from(logits.subarray(i * 3, i * 3 + 3), (v) => v / temperature);
    const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    for (let c = 0; c < 3; c++) {
      const expected = Math.exp(row[c] - lse);
      assert.ok(Math.abs(got[i * 3 + c] - expected) < 1e-4, `row ${i}: ${got[i * 3 + c]} vs ${expected}`);
    }
  }
  const unfolded = await HeadTrainer.loadForInference(plain);
  assert.ok(
    maxDiff(unfolded.predictProba(raw, n), got) > 1e-3,
    "without the transform the raw inputs differ",
  );
  unfolded.dispose();
});

test("dispose may be called twice, and a disposed head refuses to run", async () => {
  const head = await HeadTrainer.create(params);
  head.dispose();
  head.dispose();
  assert.throws(() => head.logits(data.x, 600), /disposed/);
  await assert.rejects(head.trainEpoch(data.x, data.y, { batchSize: 64, rng: new Rng(1) }), /disposed/);
});
