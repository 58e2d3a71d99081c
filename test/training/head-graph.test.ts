import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../src/lib/rng.js";
import { BatchBuilder, dropoutMask } from "../../src/training/head-batch.js";
import { buildForwardGraph, buildTrainGraph } from "../../src/training/head-graph.js";
import { SyncOrtSession } from "../../src/training/ort-sync.js";

const dims = { inputDim: 5, hiddenUnits: 4, classes: 3 };
const [D, H, C] = [5, 4, 3];
const N = 8;

/** Float64 reference: logits and the weighted, smoothed cross-entropy of the train-step graph. */
function reference(w: Float64Array[], feeds: Record<string, Float64Array>) {
  const [w1, b1, w2, b2] = w;
  const { x, mask, target, sw } = feeds;
  const logits = new Float64Array(N * C);
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const h = Array.from({ length: H }, (_, j) => {
      let z = b1[j];
      for (let k = 0; k < D; k++) z += x[i * D + k] * w1[k * H + j];
      return Math.max(0, z) * mask[i * H + j];
    });
    for (let c = 0; c < C; c++) {
      logits[i * C + c] = b2[c] + h.reduce((s, hj, j) => s + hj * w2[j * C + c], 0);
    }
    const row = logits.subarray(i * C, (i + 1) * C);
    const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    for (let c = 0; c < C; c++) loss -= sw[i] * target[i * C + c] * (row[c] - lse);
  }
  return { loss, logits };
}

function problem(seed: number) {
  const rng = new Rng(seed);
  const u = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
  const weights = [u(D * H, 1), u(H, 0.3), u(H * C, 1), u(C, 0.3)];
  const x = u(N * D, 2);
  const y = Int32Array.from({ length: N }, (_, i) => i % C);
  return { weights, x, y };
}

test("train-step graph: loss and gradients match finite differences (dropout, smoothing, class weights)", () => {
  const { weights, x, y } = problem(3);
  const loss = { dropout: 0.5, labelSmoothing: 0.1, classWeights: Float32Array.of(1, 2, 0.5) };
  const { feeds } = new BatchBuilder(dims, loss, N).fill(x, y, [...Array(N).keys()], 99);
  assert.ok(feeds.mask.data.includes(0) && feeds.mask.data.includes(2), "the mask drops and rescales");
  assert.ok(Math.abs(feeds.sw.data.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.ok(Math.abs(feeds.sw.data[1] / feeds.sw.data[0] - 2) < 1e-6, "class weight 2 vs 1");
  assert.ok(
    Math.abs(feeds.target.data[0] - (0.9 + 0.1 / 3)) < 1e-6 &&
      Math.abs(feeds.target.data[1] - 0.1 / 3) < 1e-6,
  );

  const session = new SyncOrtSession(buildTrainGraph(dims));
  const shapes = [[D, H], [H], [H, C], [C]];
  const [w1, b1, w2, b2] = weights.map((data, i) => ({ data, dims: shapes[i] }));
  const out = session.run(
    { ...feeds, w1, b1, w2, b2 },
    { loss: null, dw1: null, db1: null, dw2: null, db2: null, logits: null },
  );
  session.release();

  const f64 = Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, Float64Array.from(f.data)]));
  const w = weights.map((a) => Float64Array.from(a));
  const ref = reference(w, f64);
  assert.ok(
    Math.abs(out.loss[0] - ref.loss) <= 1e-5 * Math.abs(ref.loss),
    `loss ${out.loss[0]} vs ${ref.loss}`,
  );
  for (let i = 0; i < N * C; i++) assert.ok(Math.abs(out.logits[i] - ref.logits[i]) < 1e-5);

  const eps = 1e-6;
  for (const [p, name] of ["dw1", "db1", "dw2", "db2"].entries()) {
    const grad = out[name];
    const fd = Float64Array.from(w[p], (_, k) => {
      const keep = w[p][k];
      w[p][k] = keep + eps;
      const plus = reference(w, f64).loss;
      w[p][k] = keep - eps;
      const minus = reference(w, f64).loss;
      w[p][k] = keep;
      return (plus - minus) / (2 * eps);
    });
    const scale = Math.max(...fd.map(Math.abs));
    assert.ok(scale > 1e-3, `${name} should not vanish`);
    for (let k = 0; k < fd.length; k++) {
      const err = Math.abs(grad[k] - fd[k]);
      assert.ok(
        err <= 1e-3 * Math.max(Math.abs(fd[k]), 1e-2 * scale),
        `${name}[${k}]: ${grad[k]} vs ${fd[k]}`,
      );
    }
  }
});

test("forward graph: logits of the head without dropout", () => {
  const { weights, x } = problem(5);
  const session = new SyncOrtSession(buildForwardGraph(dims));
  const shapes = [[D, H], [H], [H, C], [C]];
  const [w1, b1, w2, b2] = weights.map((data, i) => ({ data, dims: shapes[i] }));
  const out = session.run({ x: { data: x, dims: [N, D] }, w1, b1, w2, b2 }, { logits: null });
  session.release();
  const ones = new Float64Array(N * H).fill(1);
  const f64 = {
    x: Float64Array.from(x),
    mask: ones,
    target: new Float64Array(N * C),
    sw: new Float64Array(N),
  };
  const ref = reference(
    weights.map((a) => Float64Array.from(a)),
    f64,
  );
  for (let i = 0; i < N * C; i++) assert.ok(Math.abs(out.logits[i] - ref.logits[i]) < 1e-5);
  assert.throws(() => session.run({}, { logits: null }), /released/);
});

test("dropoutMask draws one Rng value per element, in order", () => {
  const mask = new Float32Array(1000);
  dropoutMask(mask, 0.3, 1234);
  const rng = new Rng(1234);
  const keep = Math.fround(1 / 0.7);
  for (let i = 0; i < mask.length; i++) assert.equal(mask[i], rng.next() < 0.3 ? 0 : keep);
});

test("BatchBuilder gathers rows and gives all-ones masks without dropout, uniform weights without class weights", () => {
  const { x, y } = problem(7);
  const builder = new BatchBuilder(dims, { dropout: 0 }, 4);
  const { feeds, logits } = builder.fill(x, y, [6, 1, 3], 0);
  assert.deepEqual(feeds.x.dims, [3, D]);
  assert.deepEqual([...feeds.x.data.subarray(D, 2 * D)], [...x.subarray(D, 2 * D)]);
  assert.ok(feeds.mask.data.every((v) => v === 1));
  assert.ok(feeds.sw.data.every((v) => Math.abs(v - 1 / 3) < 1e-7));
  assert.deepEqual(
    [...feeds.target.data.subarray(0, C)],
    Array.from({ length: C }, (_, c) => (c === y[6] ? 1 : 0)),
  );
  assert.equal(logits.data.length, 3 * C);
});
