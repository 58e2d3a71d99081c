/** Per-feature mean and inverse standard deviation of a training set (z-scoring). */
export interface FeatureStats {
  mean: Float32Array;
  invStd: Float32Array;
}

/**
 * Mean and 1/std of each of the `dim` columns of `x` (row-major), in float64. Columns that are constant
 * get an inverse std of 1 instead of infinity, so they stay constant (zero) after {@link standardize}.
 */
export function featureStats(x: Float32Array, dim: number): FeatureStats {
  const n = Math.floor(x.length / dim);
  const sum = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const row = i * dim;
    for (let j = 0; j < dim; j++) {
      const v = x[row + j];
      sum[j] += v;
      sq[j] += v * v;
    }
  }
  const mean = new Float32Array(dim);
  const invStd = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    const m = n > 0 ? sum[j] / n : 0;
    const variance = n > 0 ? Math.max(0, sq[j] / n - m * m) : 0;
    mean[j] = m;
    invStd[j] = variance > 1e-12 ? 1 / Math.sqrt(variance) : 1;
  }
  return { mean, invStd };
}

/** z-scores `x` in place: `(x - mean) * invStd` per column. */
export function standardizeInPlace(x: Float32Array, stats: FeatureStats): void {
  const dim = stats.mean.length;
  for (let i = 0; i < x.length; i += dim) {
    for (let j = 0; j < dim; j++) x[i + j] = (x[i + j] - stats.mean[j]) * stats.invStd[j];
  }
}
