import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../src/lib/rng.js";
import {
  expectedCalibrationError,
  fitTemperature,
  meanNll,
  softmaxRows,
} from "../../src/training/calibration.js";

const close = (a: number, b: number, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

/** A standard normal draw (Box–Muller). */
function gaussian(rng: Rng): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * `n` rows of `classes` logits with labels drawn from softmax(logits), so the probabilities of
 * these logits are calibrated by construction.
 */
function calibratedSet(seed: number, n: number, classes: number, scale: number) {
  const rng = new Rng(seed);
  const logits = new Float32Array(n * classes);
  for (let i = 0; i < logits.length; i++) logits[i] = scale * gaussian(rng);
  const probs = softmaxRows(logits, classes);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let u = rng.next();
    let k = 0;
    while (k < classes - 1 && u >= probs[r * classes + k]) u -= probs[r * classes + k++];
    labels[r] = k;
  }
  return { logits, probs, labels };
}

const scaled = (logits: Float32Array, factor: number) => logits.map((z) => z * factor);

test("softmaxRows: rows sum to 1, a temperature above 1 flattens, huge logits stay finite", () => {
  const logits = new Float32Array([1, 2, 3, -1, 0, 1000]);
  const p = softmaxRows(logits, 3);
  close(p[0] + p[1] + p[2], 1);
  close(p[3] + p[4] + p[5], 1);
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const s = e[0] + e[1] + e[2];
  close(p[0], e[0] / s);
  close(p[2], e[2] / s);
  close(p[5], 1);
  assert.ok(p.every(Number.isFinite));
  const hot = softmaxRows(logits, 3, 4);
  close(hot[0] + hot[1] + hot[2], 1);
  assert.ok(hot[2] < p[2] && hot[0] > p[0], "T = 4 should move mass away from the top class");
  // T = 2 on [1, 2, 3] is the plain softmax of [0.5, 1, 1.5].
  const half = softmaxRows(new Float32Array([0.5, 1, 1.5]), 3);
  for (let j = 0; j < 3; j++) close(softmaxRows(logits, 3, 2)[j], half[j]);
  // A very high temperature is nearly uniform.
  const flat = softmaxRows(new Float32Array([1, 2, 3]), 3, 1e6);
  for (const v of flat) close(v, 1 / 3, 1e-5);
  assert.throws(() => softmaxRows(logits, 4), RangeError);
  assert.throws(() => softmaxRows(logits, 3, 0), RangeError);
});

test("meanNll matches hand-computed values and clamps zero probabilities", () => {
  const probs = new Float32Array([0.5, 0.25, 0.25, 0, 1, 0]);
  // -(ln 0.5 + ln 1e-12) / 2
  close(meanNll(probs, [0, 0], 3), -(Math.log(0.5) + Math.log(1e-12)) / 2, 1e-9);
  close(meanNll(probs, [1, 1], 3), -Math.log(0.25) / 2, 1e-9);
  assert.equal(meanNll(new Float32Array(0), [], 3), 0);
  assert.throws(() => meanNll(probs, [0], 3), RangeError);
  assert.throws(() => meanNll(probs, [0, 3], 3), RangeError);
});

test("expectedCalibrationError matches hand-computed examples", () => {
  // Two classes, 4 bins: (0, .25], (.25, .5], (.5, .75], (.75, 1].
  // row  probs         top-1  conf  label  correct  bin
  //  0   [0.9, 0.1]    0      0.9   0      1        3
  //  1   [0.8, 0.2]    0      0.8   1      0        3
  //  2   [0.4, 0.6]    1      0.6   1      1        2
  //  3   [0.5, 0.5]    0      0.5   1      0        1 (tie: lower index; 0.5 is the top of bin 1)
  //  4   [0.0, 1.0]    1      1.0   1      1        3 (a confidence of 1 goes in the last bin)
  // bin 1: n 1, acc 0,   conf 0.5           -> |0 - 0.5| * 1/5          = 0.1
  // bin 2: n 1, acc 1,   conf 0.6           -> |1 - 0.6| * 1/5          = 0.08
  // bin 3: n 3, acc 2/3, conf (0.9+0.8+1)/3 -> |2 - 2.7| / 5            = 0.14
  // ECE = 0.1 + 0.08 + 0.14 = 0.32
  const probs = new Float32Array([0.9, 0.1, 0.8, 0.2, 0.4, 0.6, 0.5, 0.5, 0, 1]);
  close(expectedCalibrationError(probs, [0, 1, 1, 1, 1], 2, 4), 0.32);
  // One bin: |accuracy - mean confidence| = |3/5 - (0.9+0.8+0.6+0.5+1)/5| = |0.6 - 0.76| = 0.16.
  close(expectedCalibrationError(probs, [0, 1, 1, 1, 1], 2, 1), 0.16);
  // Three classes, default 15 bins of width 1/15: 0.7 is in bin 10 = (10/15, 11/15] (0.7 * 15 = 10.5),
  // 0.45 in bin 6 = (6/15, 7/15] (0.45 * 15 = 6.75).
  // Both correct: |1 - 0.7| * 1/2 + |1 - 0.45| * 1/2 = 0.15 + 0.275 = 0.425.
  const three = new Float32Array([0.7, 0.2, 0.1, 0.3, 0.25, 0.45]);
  close(expectedCalibrationError(three, [0, 2], 3), 0.425);
  // Row 0 wrong (label 1): |0 - 0.7| / 2 + |1 - 0.45| / 2 = 0.35 + 0.275 = 0.625.
  close(expectedCalibrationError(three, [1, 2], 3), 0.625);
  // With a single bin the miss and the hit pool and partly cancel:
  // accuracy 1/2, mean confidence (0.7 + 0.45) / 2 = 0.575 -> |0.5 - 0.575| = 0.075.
  close(expectedCalibrationError(three, [1, 2], 3, 1), 0.075);
  assert.equal(expectedCalibrationError(new Float32Array(0), [], 3), 0);
  assert.throws(() => expectedCalibrationError(three, [0, 2], 3, 0), RangeError);
  assert.throws(() => expectedCalibrationError(three, [0], 3), RangeError);
});

test("a perfectly calibrated synthetic set has ECE near 0", () => {
  const { probs, labels } = calibratedSet(1, 20000, 10, 2);
  const ece = expectedCalibrationError(probs, labels, 10);
  assert.ok(ece < 0.02, `ECE ${ece}`);
});

test("calibration lowers ECE on a deliberately over-confident head", () => {
  const classes = 10;
  const { logits, labels } = calibratedSet(42, 10000, classes, 1.5);
  const overConfident = scaled(logits, 4);
  const before = expectedCalibrationError(softmaxRows(overConfident, classes), labels, classes);
  assert.ok(before > 0.05, `ECE before ${before}`);
  const t = fitTemperature(overConfident, labels, classes);
  assert.ok(Math.abs(t - 4) / 4 < 0.15, `temperature ${t}`);
  const calibrated = softmaxRows(overConfident, classes, t);
  const after = expectedCalibrationError(calibrated, labels, classes);
  assert.ok(after < before / 2 && after < 0.03, `ECE after ${after} (before ${before})`);
  // The fitted temperature minimizes the NLL: nudging it either way does not help.
  const nllAt = (temp: number) => meanNll(softmaxRows(overConfident, classes, temp), labels, classes);
  assert.ok(nllAt(t) <= nllAt(t * 1.01) && nllAt(t) <= nllAt(t / 1.01));
  assert.ok(nllAt(t) < nllAt(1));
  // Deterministic.
  assert.equal(fitTemperature(overConfident, labels, classes), t);
});

test("fitting an under-confident set returns T < 1", () => {
  const classes = 3;
  const { logits, labels } = calibratedSet(7, 5000, classes, 3);
  const t = fitTemperature(scaled(logits, 0.4), labels, classes);
  assert.ok(t < 1, `temperature ${t}`);
  assert.ok(Math.abs(t - 0.4) / 0.4 < 0.15, `temperature ${t}`);
});

test("fitTemperature: empty set, search bounds and bad input", () => {
  assert.equal(fitTemperature(new Float32Array(0), [], 4), 1);
  // Always right with a margin: the NLL keeps falling as T shrinks, so the lower end (0.05) wins.
  const sure = new Float32Array([2, 0, 0, 2]);
  close(fitTemperature(sure, [0, 1], 2), 0.05, 1e-6);
  // Always wrong: the NLL keeps falling as T grows, so the upper end (20) wins.
  close(fitTemperature(sure, [1, 0], 2), 20, 1e-4);
  assert.throws(() => fitTemperature(sure, [0, 2], 2), RangeError);
  assert.throws(() => fitTemperature(new Float32Array([Number.NaN, 0]), [0], 2), RangeError);
});
