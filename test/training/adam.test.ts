import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../src/lib/rng.js";
import { initTfjs, tf } from "../../src/lib/tfjs.js";
import { Adam } from "../../src/training/adam.js";

test("the SIMD Adam follows tf.train.adam step for step, with odd sizes and a changed learning rate", async () => {
  await initTfjs();
  const sizes = [13, 1, 6, 32];
  const rng = new Rng(4);
  const init = sizes.map((n) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1));
  const adam = new Adam(0.01, sizes);
  for (const [i, w] of init.entries()) adam.params[i].set(w);
  const vars = init.map((w) => tf.variable(tf.tensor1d(w)));
  const optimizer = tf.train.adam(0.01);
  for (let step = 1; step <= 6; step++) {
    if (step === 4) {
      adam.learningRate = 0.002;
      (optimizer as unknown as { learningRate: number }).learningRate = 0.002;
    }
    const grads = sizes.map((n) =>
      Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 10 ** -rng.int(4)),
    );
    for (const [i, g] of grads.entries()) adam.grads[i].set(g);
    adam.step();
    const named = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(grads[i]) }));
    optimizer.applyGradients(named);
    tf.dispose(named.map((g) => g.tensor));
    for (const [i, v] of vars.entries()) {
      const expected = v.dataSync();
      for (let k = 0; k < sizes[i]; k++) {
        assert.ok(Math.abs(adam.params[i][k] - expected[k]) < 1e-6, `step ${step}, array ${i}[${k}]`);
      }
    }
  }
  assert.equal(adam.iterations, 6);
  const moments = await optimizer.getWeights();
  for (const [i, m] of [...adam.m, ...adam.v].entries()) {
    const expected = moments[i + 1].tensor.dataSync();
    for (let k = 0; k < m.length; k++)
      assert.ok(Math.abs(m[k] - expected[k]) <= 1e-6 * Math.abs(expected[k]) + 1e-12);
  }
  tf.dispose(vars);
  optimizer.dispose();
});

test("restoring the iteration count and moments continues bit-identically", () => {
  const sizes = [10, 3];
  const run = (adam: Adam, from: number, to: number) => {
    for (let step = from; step < to; step++) {
      for (const g of adam.grads) for (let k = 0; k < g.length; k++) g[k] = Math.sin(step * 7 + k);
      adam.step();
    }
  };
  const straight = new Adam(0.05, sizes);
  run(straight, 0, 8);
  const first = new Adam(0.05, sizes);
  run(first, 0, 3);
  const resumed = new Adam(0.05, sizes);
  resumed.iterations = first.iterations;
  for (const key of ["params", "m", "v"] as const)
    for (const [i, a] of first[key].entries()) resumed[key][i].set(a);
  run(resumed, 3, 8);
  for (const key of ["params", "m", "v"] as const) {
    for (const [i, a] of straight[key].entries()) assert.deepEqual([...resumed[key][i]], [...a]);
  }
});
