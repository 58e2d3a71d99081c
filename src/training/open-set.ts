/**
 * An open-set ("unknown") rule from class statistics: class means and a shared, shrunk covariance are
 * fitted on training features, every row is scored by its squared Mahalanobis distance to the nearest
 * class mean, and a threshold picked on validation scores marks rows above it as unknown.
 * Arrays are row-major: `n` rows of `dim` features.
 */

/** Class means and the precision (inverse covariance) of the shared within-class covariance. */
export interface ClassGaussians {
  dim: number;
  classes: number;
  /** `classes * dim` class means. */
  means: Float32Array;
  /** `full`: the `dim * dim` inverse of the shrunk shared covariance; `diag`: `dim` inverse variances. */
  precision: Float32Array;
  kind: "full" | "diag";
}

/** Options of {@link fitClassGaussians}. */
export interface FitClassGaussiansOptions {
  /** Covariance model; `auto` (the default) is `full` when `dim <= 1024`, else `diag`. */
  kind?: "full" | "diag" | "auto";
  /** Ridge added to the covariance: `Σ + shrinkage * mean(diag Σ) * I`. Default 0.01. */
  shrinkage?: number;
}

/** The widest `dim` that `kind: "auto"` fits with a full covariance. */
export const AUTO_FULL_MAX_DIM = 1024;

/** Rows accumulated together into the covariance, so each load/store of it serves 8 rows (unrolled). */
const BLOCK = 8;

/**
 * Fits one mean per class and the pooled within-class covariance (each row minus its class mean,
 * divided by `n - classes`, or by `n` when that is not positive), shrunk towards a multiple of the
 * identity and inverted (Cholesky in float64 for `full`). When the covariance is all zero the ridge is
 * `shrinkage * I`. Throws a RangeError when a class has no rows or the shrunk covariance is not
 * positive definite (only possible with `shrinkage: 0`).
 */
export function fitClassGaussians(
  x: Float32Array,
  y: ArrayLike<number>,
  dim: number,
  classes: number,
  options: FitClassGaussiansOptions = {},
): ClassGaussians {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  if (!Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`classes must be a positive integer, got ${classes}`);
  }
  const n = y.length;
  if (x.length !== n * dim) throw new RangeError(`x has ${x.length} values, expected ${n} rows x ${dim}`);
  const requested = options.kind ?? "auto";
  if (requested !== "full" && requested !== "diag" && requested !== "auto") {
    throw new RangeError(`unknown covariance kind ${String(requested)}`);
  }
  const kind = requested === "auto" ? (dim <= AUTO_FULL_MAX_DIM ? "full" : "diag") : requested;
  const shrinkage = options.shrinkage ?? 0.01;
  if (!(shrinkage >= 0 && Number.isFinite(shrinkage))) {
    throw new RangeError(`shrinkage must be a finite number >= 0, got ${shrinkage}`);
  }

  // Class means, in float64.
  const counts = new Float64Array(classes);
  const sums = new Float64Array(classes * dim);
  for (let r = 0; r < n; r++) {
    const k = y[r];
    if (!(Number.isInteger(k) && k >= 0 && k < classes)) {
      throw new RangeError(`label ${k} at ${r} is not a class index`);
    }
    counts[k]++;
    const o = r * dim;
    const s = k * dim;
    for (let j = 0; j < dim; j++) sums[s + j] += x[o + j];
  }
  for (let k = 0; k < classes; k++) {
    if (counts[k] === 0) {
      throw new RangeError(`class ${k} has no training rows; every class needs at least one to fit its mean`);
    }
    const s = k * dim;
    for (let j = 0; j < dim; j++) sums[s + j] /= counts[k];
  }
  const means = sums;
  const denominator = n > classes ? n - classes : n;

  if (kind === "diag") {
    const variance = new Float64Array(dim);
    for (let r = 0; r < n; r++) {
      const o = r * dim;
      const m = y[r] * dim;
      for (let j = 0; j < dim; j++) {
        const d = x[o + j] - means[m + j];
        variance[j] += d * d;
      }
    }
    let trace = 0;
    for (let j = 0; j < dim; j++) {
      variance[j] /= denominator;
      trace += variance[j];
    }
    const ridge = shrinkage * (trace > 0 ? trace / dim : 1);
    const precision = new Float32Array(dim);
    for (let j = 0; j < dim; j++) {
      const v = variance[j] + ridge;
      if (!(v > 0 && Number.isFinite(v))) {
        throw new RangeError(`feature ${j} has zero variance; use a positive shrinkage`);
      }
      precision[j] = 1 / v;
    }
    return { dim, classes, means: Float32Array.from(means), precision, kind };
  }

  const cov = pooledCovariance(x, y, n, dim, means);
  let trace = 0;
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = cov[i * dim + j] / denominator;
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
    trace += cov[i * dim + i];
  }
  const ridge = shrinkage * (trace > 0 ? trace / dim : 1);
  for (let i = 0; i < dim; i++) cov[i * dim + i] += ridge;
  const precision = Float32Array.from(inverseSpd(cov, dim));
  return { dim, classes, means: Float32Array.from(means), precision, kind };
}

/** The upper triangle (row-major, `j >= i`) of the within-class scatter matrix, unnormalized. */
function pooledCovariance(
  x: Float32Array,
  y: ArrayLike<number>,
  n: number,
  dim: number,
  means: Float64Array,
): Float64Array {
  const cov = new Float64Array(dim * dim);
  const d = new Float64Array(BLOCK * dim);
  const center = (r: number, slot: number) => {
    const o = r * dim;
    const m = y[r] * dim;
    const s = slot * dim;
    for (let j = 0; j < dim; j++) d[s + j] = x[o + j] - means[m + j];
  };
  const [d1, d2, d3, d4, d5, d6, d7] = [1, 2, 3, 4, 5, 6, 7].map((b) => b * dim);
  let r = 0;
  for (; r + BLOCK <= n; r += BLOCK) {
    for (let b = 0; b < BLOCK; b++) center(r + b, b);
    for (let i = 0; i < dim; i++) {
      const a0 = d[i];
      const a1 = d[d1 + i];
      const a2 = d[d2 + i];
      const a3 = d[d3 + i];
      const a4 = d[d4 + i];
      const a5 = d[d5 + i];
      const a6 = d[d6 + i];
      const a7 = d[d7 + i];
      const base = i * dim;
      for (let j = i; j < dim; j++) {
        cov[base + j] +=
          a0 * d[j] +
          a1 * d[d1 + j] +
          a2 * d[d2 + j] +
          a3 * d[d3 + j] +
          a4 * d[d4 + j] +
          a5 * d[d5 + j] +
          a6 * d[d6 + j] +
          a7 * d[d7 + j];
      }
    }
  }
  for (; r < n; r++) {
    center(r, 0);
    for (let i = 0; i < dim; i++) {
      const a0 = d[i];
      const base = i * dim;
      for (let j = i; j < dim; j++) cov[base + j] += a0 * d[j];
    }
  }
  return cov;
}

/**
 * The inverse of a symmetric positive definite `dim * dim` matrix (row-major, float64): Cholesky
 * `A = L L'`, then `U = L^-T` (upper triangular, so all inner loops run over contiguous rows), then
 * `A^-1 = U U'`.
 */
function inverseSpd(a: Float64Array, dim: number): Float64Array {
  // Cholesky–Crout, row by row; L is stored in the lower triangle of `l`.
  const l = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    const ri = i * dim;
    for (let j = 0; j <= i; j++) {
      const rj = j * dim;
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= l[ri + k] * l[rj + k];
      if (i === j) {
        if (!(s > 0 && Number.isFinite(s))) {
          throw new RangeError(
            `the covariance is not positive definite (pivot ${i}); use a positive shrinkage`,
          );
        }
        l[ri + i] = Math.sqrt(s);
      } else {
        l[ri + j] = s / l[rj + j];
      }
    }
  }
  // U = (L^-1)': U[j][i] = -(Σ_{k=j}^{i-1} L[i][k] U[j][k]) / L[i][i] for i > j.
  const u = new Float64Array(dim * dim);
  for (let j = 0; j < dim; j++) {
    const rj = j * dim;
    u[rj + j] = 1 / l[rj + j];
    for (let i = j + 1; i < dim; i++) {
      const ri = i * dim;
      let s = 0;
      for (let k = j; k < i; k++) s += l[ri + k] * u[rj + k];
      u[rj + i] = -s / l[ri + i];
    }
  }
  // A^-1 = L^-T L^-1 = U U': P[i][j] = Σ_{k >= max(i, j)} U[i][k] U[j][k].
  const p = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    const ri = i * dim;
    for (let j = i; j < dim; j++) {
      const rj = j * dim;
      let s = 0;
      for (let k = j; k < dim; k++) s += u[ri + k] * u[rj + k];
      p[ri + j] = s;
      p[rj + i] = s;
    }
  }
  return p;
}

/**
 * Per row of `x` (`n` rows of `model.dim`): the minimum over classes of the squared Mahalanobis
 * distance to the class mean under the shared covariance, divided by `dim` (so in-distribution rows
 * score about 1 whatever the width). Computed as `x'Px - 2 x'P m_k + m_k'P m_k` with `P m_k`
 * precomputed, after centering `x` and the means on the mean of the class means for accuracy.
 */
export function mahalanobisScores(model: ClassGaussians, x: Float32Array, n: number): Float32Array {
  checkModel(model);
  const { dim, classes, means, precision } = model;
  if (!Number.isInteger(n) || n < 0 || x.length !== n * dim) {
    throw new RangeError(`x has ${x.length} values, expected ${n} rows x ${dim}`);
  }
  const out = new Float32Array(n);
  if (n === 0) return out;
  // Centre everything on the mean of the class means: distances are unchanged, cancellation smaller.
  const origin = new Float64Array(dim);
  for (let k = 0; k < classes; k++) for (let j = 0; j < dim; j++) origin[j] += means[k * dim + j] / classes;
  const m = new Float64Array(classes * dim);
  for (let k = 0; k < classes; k++)
    for (let j = 0; j < dim; j++) m[k * dim + j] = means[k * dim + j] - origin[j];

  if (model.kind === "diag") {
    const p = Float64Array.from(precision);
    const v = new Float64Array(dim);
    for (let r = 0; r < n; r++) {
      const o = r * dim;
      for (let j = 0; j < dim; j++) v[j] = x[o + j] - origin[j];
      let best = Infinity;
      for (let k = 0; k < classes; k++) {
        const mk = k * dim;
        let s = 0;
        for (let j = 0; j < dim; j++) {
          const d = v[j] - m[mk + j];
          s += p[j] * d * d;
        }
        if (s < best) best = s;
      }
      out[r] = best / dim;
    }
    return out;
  }

  const p = Float64Array.from(precision);
  // pm[k] = P m_k and c[k] = m_k' P m_k.
  const pm = new Float64Array(classes * dim);
  const c = new Float64Array(classes);
  for (let k = 0; k < classes; k++) {
    const mk = k * dim;
    let ck = 0;
    for (let i = 0; i < dim; i++) {
      const ri = i * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) s += p[ri + j] * m[mk + j];
      pm[mk + i] = s;
      ck += m[mk + i] * s;
    }
    c[k] = ck;
  }
  // Rows go in blocks of four (a short last block is padded with zeros) so that each load of P serves
  // four rows. x'Px comes from the upper triangle: Σ_i x_i (P_ii x_i + 2 Σ_{j>i} P_ij x_j).
  const w = new Float64Array(4 * dim);
  const w1 = dim;
  const w2 = 2 * dim;
  const w3 = 3 * dim;
  const quad = new Float64Array(4);
  for (let r0 = 0; r0 < n; r0 += 4) {
    const rows = Math.min(4, n - r0);
    w.fill(0);
    for (let b = 0; b < rows; b++) {
      const o = (r0 + b) * dim;
      for (let j = 0; j < dim; j++) w[b * dim + j] = x[o + j] - origin[j];
    }
    let q0 = 0;
    let q1 = 0;
    let q2 = 0;
    let q3 = 0;
    for (let i = 0; i < dim; i++) {
      const ri = i * dim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = i + 1; j < dim; j++) {
        const pij = p[ri + j];
        s0 += pij * w[j];
        s1 += pij * w[w1 + j];
        s2 += pij * w[w2 + j];
        s3 += pij * w[w3 + j];
      }
      const pii = p[ri + i];
      const x0 = w[i];
      const x1 = w[w1 + i];
      const x2 = w[w2 + i];
      const x3 = w[w3 + i];
      q0 += x0 * (pii * x0 + 2 * s0);
      q1 += x1 * (pii * x1 + 2 * s1);
      q2 += x2 * (pii * x2 + 2 * s2);
      q3 += x3 * (pii * x3 + 2 * s3);
    }
    quad[0] = q0;
    quad[1] = q1;
    quad[2] = q2;
    quad[3] = q3;
    for (let b = 0; b < rows; b++) {
      const wb = b * dim;
      let best = Infinity;
      for (let k = 0; k < classes; k++) {
        const mk = k * dim;
        let cross = 0;
        for (let j = 0; j < dim; j++) cross += w[wb + j] * pm[mk + j];
        const d = quad[b] - 2 * cross + c[k];
        if (d < best) best = d;
      }
      out[r0 + b] = Math.max(0, best) / dim;
    }
  }
  return out;
}

/**
 * The score above which a fraction of about `rejectRate` of `scores` lie: their `1 - rejectRate`
 * quantile, linearly interpolated between order statistics (the common "type 7" definition).
 * Scores strictly above the threshold are "unknown". Throws on an empty list, a NaN score or a rate
 * outside [0, 1].
 */
export function rejectThreshold(scores: ArrayLike<number>, rejectRate: number): number {
  if (!(rejectRate >= 0 && rejectRate <= 1))
    throw new RangeError(`rejectRate must lie in [0, 1], got ${rejectRate}`);
  if (scores.length === 0) throw new RangeError("no scores to pick a threshold from");
  const sorted = Float64Array.from(scores);
  if (sorted.some(Number.isNaN)) throw new RangeError("scores contain NaN");
  sorted.sort();
  const h = (sorted.length - 1) * (1 - rejectRate);
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Throws a RangeError unless a model's sizes and kind are consistent. */
export function checkModel(m: ClassGaussians): void {
  if (!Number.isInteger(m.dim) || m.dim < 1)
    throw new RangeError(`dim must be a positive integer, got ${m.dim}`);
  if (!Number.isInteger(m.classes) || m.classes < 1) {
    throw new RangeError(`classes must be a positive integer, got ${m.classes}`);
  }
  if (m.kind !== "full" && m.kind !== "diag")
    throw new RangeError(`unknown covariance kind ${String(m.kind)}`);
  if (m.means.length !== m.classes * m.dim) throw new RangeError("means do not hold classes x dim values");
  if (m.precision.length !== (m.kind === "full" ? m.dim * m.dim : m.dim)) {
    throw new RangeError(`precision has the wrong length for a ${m.kind} model`);
  }
}
