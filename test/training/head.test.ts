import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { Rng } from "../../src/lib/rng.js";
import { initTfjs, tf } from "../../src/lib/tfjs.js";
import { HeadTrainer } from "../../src/training/head.js";
import { DenseHeadPredictor } from "../../src/training/head-predictor.js";
import { clusters, DIM, maxDiff, params, stateDiff } from "../helpers/head-data.js";

const data = clusters(600, DIM, 3, 1);
let dir: string;

before(async () => {
  await initTfjs();
  dir = await mkdtemp(path.join(tmpdir(), "head-test-"));
});
after(() => rm(dir, { recursive: true, force: true }));

test("learns three separable gaussian clusters to > 95% in a few epochs", async () => {
  const head = await HeadTrainer.create(params);
  const rng = new Rng(5);
  const before = head.evaluate(data.x, data.y);
  assert.ok(before.accuracy < 0.9, `untrained accuracy ${before.accuracy} should be low`);
  const losses: number[] = [];
  for (let epoch = 0; epoch < 5; epoch++) {
    const result = await head.trainEpoch(data.x, data.y, { batchSize: 32, rng });
    assert.equal(result.stopped, false);
    losses.push(result.loss);
  }
  assert.ok(losses[4] < losses[0], `loss should fall: ${losses}`);
  const after = head.evaluate(data.x, data.y, 100);
  assert.ok(after.accuracy > 0.95, `train accuracy ${after.accuracy}`);
  assert.ok(after.loss < before.loss);
  assert.equal(after.predicted.length, 600);
  assert.equal(after.predicted.filter((p, i) => p === data.y[i]).length / 600, after.accuracy);
  head.dispose();
});

test("same params, seed, data and rng state give identical weights; another seed does not", async () => {
  const run = async (seed: number) => {
    const head = await HeadTrainer.create({ ...params, seed });
    await head.trainEpoch(data.x, data.y, { batchSize: 64, rng: new Rng(3) });
    const state = await head.getState();
    head.dispose();
    return state;
  };
  const [a, b, c] = [await run(11), await run(11), await run(12)];
  assert.equal(stateDiff(a, b), 0);
  assert.ok(stateDiff(a, c) > 1e-3);
});

test("resuming from getState/fromState continues exactly as an uninterrupted run", async () => {
  const straight = await HeadTrainer.create(params);
  const rngA = new Rng(42);
  for (let e = 0; e < 2; e++) await straight.trainEpoch(data.x, data.y, { batchSize: 50, rng: rngA });
  const expected = await straight.getState();
  straight.dispose();

  const first = await HeadTrainer.create(params);
  const rngB = new Rng(42);
  await first.trainEpoch(data.x, data.y, { batchSize: 50, rng: rngB });
  const saved = await first.getState();
  const savedRng = rngB.state;
  first.dispose();
  assert.equal(saved.optimizer[0].name, "iter");
  assert.equal(saved.optimizer[0].data[0], 12);
  assert.equal(saved.optimizer.length, 9);

  const resumed = await HeadTrainer.fromState(params, saved);
  await resumed.trainEpoch(data.x, data.y, { batchSize: 50, rng: new Rng(savedRng) });
  const got = await resumed.getState();
  resumed.dispose();
  assert.equal(got.optimizer[0].data[0], 24);
  assert.ok(stateDiff(got, expected) <= 1e-6, `resume drifted by ${stateDiff(got, expected)}`);

  const noAdam = {
    weights: saved.weights,
    optimizer: [{ ...saved.optimizer[0], data: new Int32Array([0]) }],
  };
  const naive = await HeadTrainer.fromState(params, noAdam);
  await naive.trainEpoch(data.x, data.y, { batchSize: 50, rng: new Rng(savedRng) });
  const naiveWeights = (await naive.getState()).weights;
  naive.dispose();
  assert.ok(maxDiff(naiveWeights[0].data, expected.weights[0].data) > 1e-4, "optimizer state should matter");
});

test("the hand-written dense gradient matches TF.js autodiff (one full-batch Adam step, no dropout)", async () => {
  const p = { ...params, dropout: 0 };
  const head = await HeadTrainer.create(p);
  const initial = await head.getState();
  await head.trainEpoch(data.x, data.y, { batchSize: 600, rng: new Rng(1) });
  const got = (await head.getState()).weights;
  head.dispose();

  const vars = initial.weights.map((w) => tf.variable(tf.tensor(w.data, w.shape)));
  const [k1, b1, k2, b2] = vars;
  const optimizer = tf.train.adam(p.learningRate);
  const xs = tf.tensor2d(data.x, [600, DIM]);
  const onehot = tf.oneHot(tf.tensor1d(data.y, "int32"), 3);
  optimizer.minimize(() => {
    const logits = tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(xs, k1), b1)), k2), b2);
    return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
  });
  const expected = vars.map((v) => v.dataSync());
  assert.ok(maxDiff(expected[0], initial.weights[0].data) > 1e-4, "the step should move the weights");
  for (const [i, w] of got.entries()) assert.ok(maxDiff(w.data, expected[i]) < 1e-6, `weight ${w.name}`);
  tf.dispose([...vars, xs, onehot]);
  optimizer.dispose();
});

test("fromState rejects a state of other dimensions", async () => {
  const head = await HeadTrainer.create(params);
  const state = await head.getState();
  head.dispose();
  await assert.rejects(HeadTrainer.fromState({ ...params, hiddenUnits: 16 }, state), RangeError);
});

test("shouldStop ends the epoch before the next batch and onBatch reports every step", async () => {
  const head = await HeadTrainer.create(params);
  const calls: [number, number, number][] = [];
  const result = await head.trainEpoch(data.x, data.y, {
    batchSize: 64,
    rng: new Rng(1),
    onBatch: async (step, steps, loss) => {
      await new Promise((resolve) => setImmediate(resolve));
      calls.push([step, steps, loss]);
    },
    shouldStop: () => calls.length >= 3,
  });
  assert.equal(result.stopped, true);
  assert.deepEqual(
    calls.map(([step, steps]) => [step, steps]),
    [
      [1, 10],
      [2, 10],
      [3, 10],
    ],
  );
  assert.ok(calls.every(([, , loss]) => Number.isFinite(loss) && loss > 0));
  assert.ok(result.loss > 0 && result.accuracy >= 0 && result.accuracy <= 1);

  let batches = 0;
  const full = await head.trainEpoch(data.x, data.y, {
    batchSize: 64,
    rng: new Rng(1),
    onBatch: () => void batches++,
  });
  assert.equal(full.stopped, false);
  assert.equal(batches, 10);
  head.dispose();
});

test("no tensors leak across epochs, evaluation, prediction, getState and dispose", async () => {
  const start = tf.memory().numTensors;
  const head = await HeadTrainer.create(params);
  const rng = new Rng(9);
  await head.trainEpoch(data.x, data.y, { batchSize: 32, rng });
  const baseline = tf.memory().numTensors;
  assert.ok(baseline > start);
  for (let e = 0; e < 3; e++) {
    await head.trainEpoch(data.x, data.y, { batchSize: 32, rng });
    head.evaluate(data.x, data.y, 128);
    head.predictProba(data.x.subarray(0, 10 * DIM), 10);
    await head.getState();
  }
  assert.equal(tf.memory().numTensors, baseline);
  const restored = await HeadTrainer.fromState(params, await head.getState());
  head.dispose();
  assert.equal(tf.memory().numTensors, baseline);
  restored.dispose();
  assert.equal(tf.memory().numTensors, start);
});

test("rejects labels out of range and mismatched sizes", async () => {
  const head = await HeadTrainer.create(params);
  const rng = new Rng(1);
  await assert.rejects(
    head.trainEpoch(data.x, new Int32Array(600).fill(3), { batchSize: 8, rng }),
    RangeError,
  );
  assert.throws(() => head.evaluate(data.x.subarray(0, 10), data.y), RangeError);
  head.dispose();
});

test("saveModel writes TF.js files; both predictor paths match TF.js within 1e-5", async () => {
  const head = await HeadTrainer.create(params);
  await head.trainEpoch(data.x, data.y, { batchSize: 32, rng: new Rng(2) });
  const out = path.join(dir, "model");
  await head.saveModel(out);
  const n = 50;
  const x = data.x.subarray(0, n * DIM);
  const expected = head.predictProba(x, n);
  head.dispose();
  const tensorsBefore = tf.memory().numTensors;

  const json = JSON.parse(await readFile(path.join(out, "model.json"), "utf8"));
  const weightData = new Uint8Array(await readFile(path.join(out, "weights.bin"))).buffer;
  const weightSpecs = json.weightsManifest[0].weights;
  assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }),
  );
  const viaLayers = tf.tidy(() => (model.predict(tf.tensor2d(x, [n, DIM])) as tf.Tensor).dataSync());
  model.dispose();
  assert.ok(maxDiff(viaLayers, expected) < 1e-6);

  const plain = DenseHeadPredictor.fromWeights(weightSpecs, weightData);
  const loaded = await HeadTrainer.loadForInference(out);
  for (const predictor of [plain, loaded]) {
    assert.equal(predictor.inputDim, DIM);
    assert.equal(predictor.classes, 3);
    const got = predictor.predictProba(x, n);
    assert.equal(got.length, n * 3);
    assert.ok(maxDiff(got, expected) < 1e-5, `max diff ${maxDiff(got, expected)}`);
    for (let r = 0; r < n; r++) assert.ok(Math.abs(got[r * 3] + got[r * 3 + 1] + got[r * 3 + 2] - 1) < 1e-6);
    assert.ok(maxDiff(predictor.predictProba(x.subarray(DIM, 2 * DIM), 1), expected.subarray(3, 6)) < 1e-5);
    predictor.dispose();
  }
  assert.equal(tf.memory().numTensors, tensorsBefore);
});
