import assert from "node:assert/strict";
import { Rng } from "../../src/lib/rng.js";
import type { HeadParams, HeadState } from "../../src/training/head.js";

/** Feature dimension of the test heads. */
export const DIM = 64;
/** A small head with dropout. */
export const params: HeadParams = {
  inputDim: DIM,
  classes: 3,
  hiddenUnits: 32,
  dropout: 0.2,
  learningRate: 0.003,
  seed: 11,
};

/** `n` points around `classes` gaussian centres (std 0.5) in `dim` dimensions, unit noise, labels cycling. */
export function clusters(n: number, dim: number, classes: number, seed: number) {
  const rng = new Rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => 0.5 * gauss()));
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % classes;
    for (let j = 0; j < dim; j++) x[i * dim + j] = centres[y[i]][j] + gauss();
  }
  return { x, y };
}

/** Largest absolute difference of two equally long arrays. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Largest absolute difference over all weights and optimizer arrays of two states. */
export function stateDiff(a: HeadState, b: HeadState): number {
  const all = (s: HeadState) => [...s.weights, ...s.optimizer];
  const [xs, ys] = [all(a), all(b)];
  assert.equal(xs.length, ys.length);
  return Math.max(...xs.map((t, i) => maxDiff(t.data, ys[i].data)));
}
