import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../src/lib/rng.js";
import {
  type ClassGaussians,
  fitClassGaussians,
  mahalanobisScores,
  rejectThreshold,
} from "../../src/training/open-set.js";
import { decodeClassGaussians, encodeClassGaussians } from "../../src/training/open-set-file.js";

const close = (a: number, b: number, eps: number) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

/** A standard normal draw (Box–Muller). */
function gaussian(rng: Rng): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * Gaussian classes sharing one correlated covariance `A A'` (A has unit-variance rows up to noise):
 * `x = mean_k + A z`, z standard normal.
 */
function makeProblem(seed: number, dim: number, classes: number) {
  const rng = new Rng(seed);
  const means = Float64Array.from({ length: classes * dim }, () => 2 * gaussian(rng));
  const a = Float64Array.from({ length: dim * dim }, () => gaussian(rng) / Math.sqrt(dim));
  const z = new Float64Array(dim);
  const sample = (n: number) => {
    const x = new Float32Array(n * dim);
    const y = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const k = rng.int(classes);
      y[r] = k;
      for (let j = 0; j < dim; j++) z[j] = gaussian(rng);
      for (let i = 0; i < dim; i++) {
        let s = means[k * dim + i];
        for (let j = 0; j < dim; j++) s += a[i * dim + j] * z[j];
        x[r * dim + i] = s;
      }
    }
    return { x, y };
  };
  return { rng, sample };
}

const rejected = (scores: Float32Array, threshold: number) =>
  scores.reduce((c, s) => c + (s > threshold ? 1 : 0), 0) / scores.length;

test("in-distribution rows mostly pass a 5% threshold, far-away rows are all unknown", () => {
  const dim = 16;
  const classes = 5;
  const { rng, sample } = makeProblem(3, dim, classes);
  const train = sample(5000);
  const val = sample(2000);
  const fresh = sample(4000);
  for (const kind of ["full", "diag"] as const) {
    const model = fitClassGaussians(train.x, train.y, dim, classes, { kind });
    assert.equal(model.kind, kind);
    const valScores = mahalanobisScores(model, val.x, 2000);
    const threshold = rejectThreshold(valScores, 0.05);
    close(rejected(valScores, threshold), 0.05, 0.002);
    const rate = rejected(mahalanobisScores(model, fresh.x, 4000), threshold);
    assert.ok(rate >= 0.02 && rate <= 0.09, `${kind}: held-out reject rate ${rate}`);
    // Shift fresh in-distribution rows by 10 (about 10 std per coordinate) along a random unit direction.
    const far = fresh.x.slice(0, 500 * dim);
    for (let r = 0; r < 500; r++) {
      const u = Float64Array.from({ length: dim }, () => gaussian(rng));
      const norm = Math.hypot(...u);
      for (let j = 0; j < dim; j++) far[r * dim + j] += (10 * u[j]) / norm;
    }
    const farScores = mahalanobisScores(model, far, 500);
    assert.equal(rejected(farScores, threshold), 1, `${kind}: far rows scored as known`);
  }
});

test("full beats diag on correlated features off the correlation axis", () => {
  // Pairs of features (2i, 2i+1) with correlation 0.95: x = mean + (s, 0.95 s + 0.31 t).
  const dim = 8;
  const classes = 3;
  const rho = 0.95;
  const rng = new Rng(11);
  const means = Float64Array.from({ length: classes * dim }, () => 3 * gaussian(rng));
  const sample = (n: number, offAxis: number) => {
    const x = new Float32Array(n * dim);
    const y = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const k = rng.int(classes);
      y[r] = k;
      for (let p = 0; p < dim; p += 2) {
        const s = gaussian(rng);
        const t = gaussian(rng);
        // offAxis moves the point along (1, -1)/√2, where the true std is sqrt(1 - rho) ≈ 0.22.
        x[r * dim + p] = means[k * dim + p] + s + offAxis / Math.SQRT2;
        x[r * dim + p + 1] =
          means[k * dim + p + 1] + rho * s + Math.sqrt(1 - rho * rho) * t - offAxis / Math.SQRT2;
      }
    }
    return { x, y };
  };
  const train = sample(4000, 0);
  const val = sample(2000, 0);
  const off = sample(1000, 1);
  const rates: Record<string, number> = {};
  for (const kind of ["full", "diag"] as const) {
    const model = fitClassGaussians(train.x, train.y, dim, classes, { kind });
    const threshold = rejectThreshold(mahalanobisScores(model, val.x, 2000), 0.05);
    rates[kind] = rejected(mahalanobisScores(model, off.x, 1000), threshold);
  }
  // 1 off-axis is ~4.5 std for the full model but only ~0.7 per coordinate for the diagonal one.
  assert.ok(rates.full > 0.99, `full rejects ${rates.full}`);
  assert.ok(rates.diag < 0.3, `diag rejects ${rates.diag}`);
});

test("auto picks full up to 1024 features, shrinkage is a ridge on the covariance", () => {
  // Two classes in 2-D: class 0 rows (±1, 0), class 1 rows (10 ± 1, 0)... feature 1 is constant.
  const x = new Float32Array([-1, 0, 1, 0, 9, 0, 11, 0]);
  const y = [0, 0, 1, 1];
  const full = fitClassGaussians(x, y, 2, 2);
  assert.equal(full.kind, "full");
  assert.deepEqual([...full.means], [0, 0, 10, 0]);
  // Pooled scatter diag (4, 0) / (n - classes = 2) = (2, 0); ridge 0.01 * mean(2, 0) = 0.01.
  close(full.precision[0], 1 / 2.01, 1e-6);
  close(full.precision[3], 1 / 0.01, 1e-3);
  close(full.precision[1], 0, 1e-9);
  const diag = fitClassGaussians(x, y, 2, 2, { kind: "diag", shrinkage: 0.5 });
  close(diag.precision[0], 1 / 2.5, 1e-6);
  close(diag.precision[1], 1 / 0.5, 1e-6);
  // Score of (1, 0.1): nearest mean (0, 0): (1 / 2.01 + 0.01 / 0.01) / 2.
  close(mahalanobisScores(full, new Float32Array([1, 0.1]), 1)[0], (1 / 2.01 + 1) / 2, 1e-5);
  assert.throws(() => fitClassGaussians(x, y, 2, 2, { shrinkage: 0 }), /positive definite/);
  assert.throws(() => fitClassGaussians(x, y, 2, 2, { kind: "diag", shrinkage: 0 }), /zero variance/);
  const wide = fitClassGaussians(
    new Float32Array(2 * 1025).map((_, i) => i % 7),
    [0, 0],
    1025,
    1,
  );
  assert.equal(wide.kind, "diag");
});

test("the full precision inverts the shrunk pooled within-class covariance", () => {
  // 203 rows (not a multiple of the 8-row accumulation block), 5 correlated features, 3 classes.
  const dim = 5;
  const classes = 3;
  const { sample } = makeProblem(9, dim, classes);
  const { x, y } = sample(203);
  const shrinkage = 0.1;
  const model = fitClassGaussians(x, y, dim, classes, { kind: "full", shrinkage });
  // Naive reference: class means, then Σ = Σ_rows (x - m_y)(x - m_y)' / (n - classes) + ridge.
  const mean = new Float64Array(classes * dim);
  const count = new Float64Array(classes);
  for (let r = 0; r < 203; r++) {
    count[y[r]]++;
    for (let j = 0; j < dim; j++) mean[y[r] * dim + j] += x[r * dim + j];
  }
  for (let k = 0; k < classes; k++) for (let j = 0; j < dim; j++) mean[k * dim + j] /= count[k];
  for (let i = 0; i < classes * dim; i++) close(model.means[i], mean[i], 1e-5);
  const cov = new Float64Array(dim * dim);
  for (let r = 0; r < 203; r++) {
    for (let i = 0; i < dim; i++) {
      for (let j = 0; j < dim; j++) {
        cov[i * dim + j] +=
          ((x[r * dim + i] - mean[y[r] * dim + i]) * (x[r * dim + j] - mean[y[r] * dim + j])) /
          (203 - classes);
      }
    }
  }
  let trace = 0;
  for (let i = 0; i < dim; i++) trace += cov[i * dim + i];
  for (let i = 0; i < dim; i++) cov[i * dim + i] += (shrinkage * trace) / dim;
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < dim; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += cov[i * dim + k] * model.precision[k * dim + j];
      close(s, i === j ? 1 : 0, 1e-5);
    }
  }
  // The score of a row equals the direct min_k (x - m_k)' P (x - m_k) / dim.
  const scores = mahalanobisScores(model, x, 203);
  for (let r = 0; r < 203; r += 17) {
    let best = Infinity;
    for (let k = 0; k < classes; k++) {
      let q = 0;
      for (let i = 0; i < dim; i++) {
        for (let j = 0; j < dim; j++) {
          q +=
            (x[r * dim + i] - model.means[k * dim + i]) *
            model.precision[i * dim + j] *
            (x[r * dim + j] - model.means[k * dim + j]);
        }
      }
      best = Math.min(best, q / dim);
    }
    close(scores[r], best, 1e-4 * Math.max(1, best));
  }
});

test("a class with no rows throws a RangeError naming it", () => {
  const x = new Float32Array([0, 1, 2, 3, 4, 5]);
  assert.throws(
    () => fitClassGaussians(x, [0, 2, 0], 2, 3),
    (err: unknown) => err instanceof RangeError && /class 1 has no training rows/.test(err.message),
  );
  assert.throws(() => fitClassGaussians(x, [0, 3, 0], 2, 3), RangeError);
  assert.throws(() => fitClassGaussians(x, [0, 1], 2, 2), RangeError);
});

test("rejectThreshold interpolates the (1 - rate) quantile", () => {
  const scores = [5, 1, 4, 2, 3];
  // sorted 1..5; (1 - 0.1) * 4 = 3.6 -> 4 + 0.6 * (5 - 4)
  close(rejectThreshold(scores, 0.1), 4.6, 1e-12);
  assert.equal(rejectThreshold(scores, 0), 5);
  assert.equal(rejectThreshold(scores, 1), 1);
  assert.equal(rejectThreshold(scores, 0.5), 3);
  assert.equal(rejectThreshold([7], 0.05), 7);
  assert.throws(() => rejectThreshold([], 0.05), RangeError);
  assert.throws(() => rejectThreshold(scores, 1.5), RangeError);
  assert.throws(() => rejectThreshold([1, Number.NaN], 0.5), RangeError);
});

test("encode/decode round-trips and rejects corrupt bytes", () => {
  const { sample } = makeProblem(5, 6, 3);
  const train = sample(300);
  for (const kind of ["full", "diag"] as const) {
    const model = fitClassGaussians(train.x, train.y, 6, 3, { kind });
    const bytes = encodeClassGaussians(model);
    const back = decodeClassGaussians(bytes);
    assert.deepEqual(back, model);
    // A copy at an odd byte offset inside a larger buffer decodes too.
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    assert.deepEqual(decodeClassGaussians(shifted.subarray(3)), model);
    assert.throws(() => decodeClassGaussians(bytes.subarray(0, bytes.length - 4)), /truncated/);
    assert.throws(() => decodeClassGaussians(bytes.subarray(0, 10)), /corrupt class-gaussians data/);
  }
  const model: ClassGaussians = {
    dim: 1,
    classes: 1,
    means: new Float32Array([1]),
    precision: new Float32Array([2]),
    kind: "diag",
  };
  const bytes = encodeClassGaussians(model);
  const text = (s: string) => new TextEncoder().encode(s);
  const withHeader = (h: string) => {
    const head = text(h + "\n");
    const out = new Uint8Array(head.length + 8);
    out.set(head);
    out.set(bytes.subarray(bytes.length - 8), head.length);
    return out;
  };
  assert.deepEqual(
    decodeClassGaussians(withHeader('{"format":"class-gaussians/1","kind":"diag","dim":1,"classes":1}')),
    model,
  );
  assert.throws(() => decodeClassGaussians(withHeader("not json")), /not JSON/);
  assert.throws(
    () => decodeClassGaussians(withHeader('{"format":"other","kind":"diag","dim":1,"classes":1}')),
    /format/,
  );
  assert.throws(
    () => decodeClassGaussians(withHeader('{"format":"class-gaussians/1","kind":"x","dim":1,"classes":1}')),
    /kind/,
  );
  assert.throws(
    () =>
      decodeClassGaussians(withHeader('{"format":"class-gaussians/1","kind":"diag","dim":0,"classes":1}')),
    /dim/,
  );
  assert.throws(() => decodeClassGaussians(new Uint8Array([...bytes, 0])), /trailing/);
  assert.throws(() => decodeClassGaussians(new Uint8Array(0)), /header/);
  const nan = bytes.slice();
  new DataView(nan.buffer).setFloat32(nan.length - 4, Number.NaN, true);
  assert.throws(() => decodeClassGaussians(nan), /not finite/);
  assert.throws(() => encodeClassGaussians({ ...model, precision: new Float32Array(2) }), RangeError);
});
