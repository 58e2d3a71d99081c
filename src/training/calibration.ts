/**
 * Probability calibration of a classifier head: softmax with a temperature, mean negative
 * log-likelihood, temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks")
 * and the expected calibration error. All arrays are row-major, `n` rows of `classes` values.
 */

/** Probabilities below this are clamped before taking the logarithm. */
const MIN_PROB = 1e-12;
/** The temperature search interval, in log space. */
const LOG_T_MIN = Math.log(0.05);
const LOG_T_MAX = Math.log(20);
/** Golden-section iterations: (ln 400) * 0.618^40 ≈ 2e-8 in log T, far below the 1e-4 relative target. */
const GOLDEN_ITERATIONS = 40;
const INV_PHI = (Math.sqrt(5) - 1) / 2;

function rowCount(length: number, classes: number, what: string): number {
  if (!Number.isInteger(classes) || classes < 1) throw new RangeError(`classes must be a positive integer`);
  if (length % classes !== 0)
    throw new RangeError(`${what} length ${length} is not a multiple of ${classes}`);
  return length / classes;
}

function checkLabels(labels: ArrayLike<number>, n: number, classes: number): void {
  if (labels.length !== n) throw new RangeError(`expected ${n} labels, got ${labels.length}`);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < classes)) {
      throw new RangeError(`label ${y} at ${i} is not a class index`);
    }
  }
}

/**
 * Row-wise softmax of `logits / temperature`, computed in float64 after subtracting each row's
 * maximum (so large logits do not overflow).
 */
export function softmaxRows(logits: Float32Array, classes: number, temperature = 1): Float32Array {
  const n = rowCount(logits.length, classes, "logits");
  if (!(temperature > 0 && Number.isFinite(temperature))) {
    throw new RangeError(`temperature must be positive and finite, got ${temperature}`);
  }
  const out = new Float32Array(logits.length);
  const row = new Float64Array(classes);
  const beta = 1 / temperature;
  for (let r = 0; r < n; r++) {
    const o = r * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j++) if (logits[o + j] > max) max = logits[o + j];
    let sum = 0;
    for (let j = 0; j < classes; j++) {
      const e = Math.exp((logits[o + j] - max) * beta);
      row[j] = e;
      sum += e;
    }
    for (let j = 0; j < classes; j++) out[o + j] = row[j] / sum;
  }
  return out;
}

/**
 * Mean negative log-likelihood of the true labels, `-mean(log p[label])`, with probabilities clamped
 * at 1e-12 (so a confident miss costs about 27.6 nats, not Infinity). 0 for an empty set.
 */
export function meanNll(probs: Float32Array, labels: ArrayLike<number>, classes: number): number {
  const n = rowCount(probs.length, classes, "probs");
  checkLabels(labels, n, classes);
  if (n === 0) return 0;
  let total = 0;
  for (let r = 0; r < n; r++) total -= Math.log(Math.max(probs[r * classes + labels[r]], MIN_PROB));
  return total / n;
}

/**
 * The temperature `T > 0` that minimizes the mean NLL of `softmax(logits / T)` on a held-out set
 * (temperature scaling). The NLL is convex in `1/T`, hence unimodal in `log T`; a golden-section search
 * over `log T` in [ln 0.05, ln 20] finds the minimum to far better than 1e-4 relative precision (a
 * minimum outside the interval returns the nearest end). Deterministic. Returns 1 for an empty set.
 */
export function fitTemperature(logits: Float32Array, labels: ArrayLike<number>, classes: number): number {
  const n = rowCount(logits.length, classes, "logits");
  checkLabels(labels, n, classes);
  if (n === 0) return 1;
  // Shift each row by its maximum once; with beta > 0 the shifted maximum stays 0, so exp never overflows.
  const shifted = new Float64Array(logits.length);
  const trueShifted = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const o = r * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j++) {
      const z = logits[o + j];
      if (!Number.isFinite(z)) throw new RangeError(`logit ${z} at row ${r}, class ${j} is not finite`);
      if (z > max) max = z;
    }
    for (let j = 0; j < classes; j++) shifted[o + j] = logits[o + j] - max;
    trueShifted[r] = shifted[o + labels[r]];
  }
  // Mean NLL at temperature exp(logT); the exact log-softmax, so no clamping is needed.
  const nll = (logT: number): number => {
    const beta = Math.exp(-logT);
    let total = 0;
    for (let r = 0; r < n; r++) {
      const o = r * classes;
      let sum = 0;
      for (let j = 0; j < classes; j++) sum += Math.exp(shifted[o + j] * beta);
      total += Math.log(sum) - beta * trueShifted[r];
    }
    return total / n;
  };
  let lo = LOG_T_MIN;
  let hi = LOG_T_MAX;
  let a = hi - INV_PHI * (hi - lo);
  let b = lo + INV_PHI * (hi - lo);
  let fa = nll(a);
  let fb = nll(b);
  for (let i = 0; i < GOLDEN_ITERATIONS; i++) {
    if (fa <= fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - INV_PHI * (hi - lo);
      fa = nll(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + INV_PHI * (hi - lo);
      fb = nll(b);
    }
  }
  return Math.exp((lo + hi) / 2);
}

/**
 * Expected calibration error of the top-1 prediction: the top-1 probability (ties: lower class index)
 * is put into one of `bins` equal-width bins over (0, 1] (bin i holds (i/bins, (i+1)/bins]; a
 * confidence of exactly 1 falls in the last bin, one of 0 in the first), and the result is
 * `Σ_bins |accuracy - mean confidence| * binCount / n`. 0 for an empty set.
 */
export function expectedCalibrationError(
  probs: Float32Array,
  labels: ArrayLike<number>,
  classes: number,
  bins = 15,
): number {
  const n = rowCount(probs.length, classes, "probs");
  checkLabels(labels, n, classes);
  if (!Number.isInteger(bins) || bins < 1)
    throw new RangeError(`bins must be a positive integer, got ${bins}`);
  if (n === 0) return 0;
  const count = new Float64Array(bins);
  const correct = new Float64Array(bins);
  const confidence = new Float64Array(bins);
  for (let r = 0; r < n; r++) {
    const o = r * classes;
    let best = 0;
    for (let j = 1; j < classes; j++) if (probs[o + j] > probs[o + best]) best = j;
    const p = probs[o + best];
    if (Number.isNaN(p)) throw new RangeError(`row ${r} has a NaN probability`);
    const bin = Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1));
    count[bin]++;
    confidence[bin] += p;
    if (best === labels[r]) correct[bin]++;
  }
  let ece = 0;
  for (let i = 0; i < bins; i++) {
    if (count[i] > 0) ece += Math.abs(correct[i] - confidence[i]) / n;
  }
  return ece;
}
