/**
 * The near-duplicate search of the dataset report: every pair of images whose `nearDistance` is within a
 * threshold, by multi-index hashing on a hash fitted to the dataset (or by brute force for small datasets).
 */
import { Rng } from "../lib/rng.js";
import { type NearSignature, nearDistance, THUMB_SIZE } from "./signature.js";

/** A near pair: indices into the searched signatures (`a` < `b`) and their `nearDistance`. */
export interface NearPair {
  a: number;
  b: number;
  distance: number;
}

/** Side of the grid the thumbnails are averaged to before hashing. */
const HASH_GRID = 8;
const HASH_DIMS = HASH_GRID * HASH_GRID;
/** Principal components the hash is computed on (whitened): fewer find more pairs but slower (16: ~2x). */
const COMPONENTS = 32;
/** Thumbnails sampled to estimate the principal components. */
const PCA_SAMPLE = 4096;
/** Candidates are pairs whose 64-bit hashes differ in at most this many bits (4 bands x 1-bit probes). */
export const SEARCH_HAMMING = 7;
const BANDS = 4;
const BAND_BITS = 16;

/** 64 random Gaussian directions in the whitened component space (fixed seed: the same on every run). */
const DIRECTIONS = (() => {
  const rng = new Rng(0x5eed);
  return Float64Array.from(
    { length: 64 * COMPONENTS },
    () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()),
  );
})();

/** A thumbnail averaged down to HASH_GRID x HASH_GRID (its RMS distances never grow). */
function reduce(thumb: Uint8Array, out: Float64Array, offset: number): void {
  const f = THUMB_SIZE / HASH_GRID;
  for (let y = 0; y < THUMB_SIZE; y++) {
    for (let x = 0; x < THUMB_SIZE; x++) {
      out[offset + Math.floor(y / f) * HASH_GRID + Math.floor(x / f)] += thumb[y * THUMB_SIZE + x] / (f * f);
    }
  }
}

/** Eigenvalues and unit eigenvectors (rows of `vectors`) of a symmetric n x n matrix, by cyclic Jacobi. */
export function symmetricEigen(
  matrix: Float64Array,
  n: number,
): { values: Float64Array; vectors: Float64Array } {
  const a = matrix.slice();
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < n; p++) {
      diag += a[p * n + p] ** 2;
      for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    }
    if (off <= 1e-22 * diag || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
          const vpk = v[p * n + k];
          const vqk = v[q * n + k];
          v[p * n + k] = c * vpk - s * vqk;
          v[q * n + k] = s * vpk + c * vqk;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}

/**
 * Hashes for the reduced thumbnails `rows` (HASH_DIMS values each): the top principal components of a sample
 * of `model` rows, whitened, then the signs of 64 random projections (SimHash). Whitening spreads the bits
 * evenly over the dataset; close thumbnails get hashes a few bits apart.
 */
function hasher(model: Float64Array, count: number): (rows: Float64Array, i: number) => [number, number] {
  const step = Math.max(1, Math.ceil(count / PCA_SAMPLE));
  const picked = Math.ceil(count / step);
  const mean = new Float64Array(HASH_DIMS);
  for (let i = 0; i < count; i += step)
    for (let k = 0; k < HASH_DIMS; k++) mean[k] += model[i * HASH_DIMS + k] / picked;
  const cov = new Float64Array(HASH_DIMS * HASH_DIMS);
  const d = new Float64Array(HASH_DIMS);
  for (let i = 0; i < count; i += step) {
    for (let k = 0; k < HASH_DIMS; k++) d[k] = model[i * HASH_DIMS + k] - mean[k];
    for (let p = 0; p < HASH_DIMS; p++)
      for (let q = 0; q < HASH_DIMS; q++) cov[p * HASH_DIMS + q] += d[p] * d[q];
  }
  const { values, vectors } = symmetricEigen(cov, HASH_DIMS);
  const order = [...values.keys()].sort((x, y) => values[y] - values[x] || x - y).slice(0, COMPONENTS);
  // Projection on whitened components folded into the 64 directions: bit k = sign(dirs[k] . (row - mean)).
  const dirs = new Float64Array(64 * HASH_DIMS);
  order.forEach((c, j) => {
    const scale = 1 / Math.sqrt(Math.max(values[c] / picked, 1e-9));
    for (let k = 0; k < 64; k++) {
      const w = DIRECTIONS[k * COMPONENTS + j] * scale;
      for (let i = 0; i < HASH_DIMS; i++) dirs[k * HASH_DIMS + i] += w * vectors[c * HASH_DIMS + i];
    }
  });
  const centred = new Float64Array(HASH_DIMS);
  return (rows, r) => {
    for (let i = 0; i < HASH_DIMS; i++) centred[i] = rows[r * HASH_DIMS + i] - mean[i];
    const bits = [0, 0];
    for (let k = 0; k < 64; k++) {
      let s = 0;
      for (let i = 0, o = k * HASH_DIMS; i < HASH_DIMS; i++) s += centred[i] * dirs[o + i];
      if (s > 0) bits[k >> 5] |= 1 << (31 - (k & 31));
    }
    return [bits[0] >>> 0, bits[1] >>> 0];
  };
}

function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

function bandKey(hash: [number, number], band: number): number {
  const half = hash[band >> 1];
  return (band & 1) === 0 ? half >>> 16 : half & 0xffff;
}

/** Items sorted by one band of their hash: `order[start[k]..start[k + 1])` have key k. */
function bucketIndex(hashes: [number, number][], band: number): { start: Int32Array; order: Int32Array } {
  const start = new Int32Array((1 << BAND_BITS) + 1);
  for (const h of hashes) start[bandKey(h, band) + 1]++;
  for (let k = 0; k < 1 << BAND_BITS; k++) start[k + 1] += start[k];
  const fill = start.slice(0, 1 << BAND_BITS);
  const order = new Int32Array(hashes.length);
  hashes.forEach((h, i) => {
    order[fill[bandKey(h, band)]++] = i;
  });
  return { start, order };
}

/**
 * The pairs (a, b) of `sigs` with `nearDistance` <= `maxDistance`, sorted by (a, b), in about linear time
 * (70,000 Fashion-MNIST images: about 3 s on one core).
 *
 * Each thumbnail, averaged to 8x8, gets a 64-bit hash: the signs of 64 random projections of its whitened top
 * principal components, estimated on the dataset itself, so that close thumbnails get close hashes and the
 * bits split any dataset evenly (a fixed perceptual hash puts most of Fashion-MNIST in a few buckets).
 * Multi-index hashing over four 16-bit bands, each probed as is and with each bit flipped, finds every pair
 * of hashes within `SEARCH_HAMMING` bits; each image's whole and central thumbnails are looked up among the
 * whole ones (the third alignment of `nearDistance` is found from the other image's side). Candidates pass an
 * exact lower bound (8x8 averages) before `nearDistance`. Approximate: a near pair whose hashes differ in more
 * bits is missed (on Fashion-MNIST and photos, 1 of 561 injected copies within the threshold).
 */
export function findNearPairs(sigs: NearSignature[], maxDistance: number): NearPair[] {
  const n = sigs.length;
  if (n < 2) return [];
  if (n <= EXACT_SEARCH_MAX) return allNearPairs(sigs, maxDistance);
  const whole = new Float64Array(n * HASH_DIMS);
  const center = new Float64Array(n * HASH_DIMS);
  sigs.forEach((s, i) => {
    reduce(s.thumb, whole, i * HASH_DIMS);
    reduce(s.zoom, center, i * HASH_DIMS);
  });
  const hash = hasher(whole, n);
  const wholeHash = sigs.map((_, i) => hash(whole, i));
  const centerHash = sigs.map((_, i) => hash(center, i));
  const index = Array.from({ length: BANDS }, (_, band) => bucketIndex(wholeHash, band));
  // Per image j: the last query (2 i + 0 whole, 2 i + 1 central part) that looked at it, and the last image
  // i whose pair with it got its full `nearDistance`.
  const seen = new Int32Array(n).fill(-1);
  const verified = new Int32Array(n).fill(-1);
  const found = new Map<number, number>();
  // An RMS distance between 8x8 averages never exceeds the one between the 16x16 thumbnails: a lower bound.
  const bound = maxDistance * maxDistance * HASH_DIMS;
  for (let i = 0; i < n; i++) {
    for (let qi = 0; qi < 2; qi++) {
      const query = qi === 0 ? wholeHash[i] : centerHash[i];
      const rows = qi === 0 ? whole : center;
      const mark = 2 * i + qi;
      for (let band = 0; band < BANDS; band++) {
        const { start, order } = index[band];
        const key = bandKey(query, band);
        for (let flip = -1; flip < BAND_BITS; flip++) {
          const k = flip < 0 ? key : key ^ (1 << flip);
          for (let p = start[k], end = start[k + 1]; p < end; p++) {
            const j = order[p];
            if (j === i || seen[j] === mark || verified[j] === i) continue;
            seen[j] = mark;
            const h = wholeHash[j];
            if (popcount32(query[0] ^ h[0]) + popcount32(query[1] ^ h[1]) > SEARCH_HAMMING) continue;
            let lower = 0;
            for (let t = 0, a = i * HASH_DIMS, b = j * HASH_DIMS; t < HASH_DIMS && lower <= bound; t++) {
              const d = rows[a + t] - whole[b + t];
              lower += d * d;
            }
            if (lower > bound) continue;
            verified[j] = i;
            const pairKey = i < j ? i * n + j : j * n + i;
            if (found.has(pairKey)) continue;
            const d = nearDistance(sigs[i], sigs[j]);
            if (d <= maxDistance) found.set(pairKey, d);
          }
        }
      }
    }
  }
  const pairs = [...found].map(([key, distance]) => ({ a: Math.floor(key / n), b: key % n, distance }));
  return pairs.sort((x, y) => x.a - y.a || x.b - y.b);
}

/** Up to this many images, every pair is compared (exact, and well under a second). */
const EXACT_SEARCH_MAX = 1500;

/** Every pair within `maxDistance`, by brute force: small datasets, where the sampled hash is weakest. */
function allNearPairs(sigs: NearSignature[], maxDistance: number): NearPair[] {
  const pairs: NearPair[] = [];
  for (let a = 0; a < sigs.length; a++) {
    for (let b = a + 1; b < sigs.length; b++) {
      const distance = nearDistance(sigs[a], sigs[b]);
      if (distance <= maxDistance) pairs.push({ a, b, distance });
    }
  }
  return pairs;
}
