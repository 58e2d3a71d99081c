import type { HeadDims } from "./head-graph.js";
import type { Feed } from "./ort-sync.js";

/** Loss options of a training batch. */
export interface BatchLoss {
  dropout: number;
  labelSmoothing?: number;
  classWeights?: Float32Array;
}

/** The train-step graph's per-batch inputs (all but the weights) and the buffer its logits go to. */
export interface BatchFeeds {
  feeds: { x: Feed; mask: Feed; target: Feed; sw: Feed };
  logits: Feed;
}

/** Reusable buffers for up to `capacity` rows, filled with one batch's inputs of the train-step graph. */
export class BatchBuilder {
  private readonly x: Float32Array;
  private readonly mask: Float32Array;
  private readonly target: Float32Array;
  private readonly sw: Float32Array;
  private readonly logits: Float32Array;

  constructor(
    private readonly dims: HeadDims,
    private readonly loss: BatchLoss,
    capacity: number,
  ) {
    this.x = new Float32Array(capacity * dims.inputDim);
    this.mask = new Float32Array(capacity * dims.hiddenUnits);
    this.target = new Float32Array(capacity * dims.classes);
    this.sw = new Float32Array(capacity);
    this.logits = new Float32Array(capacity * dims.classes);
  }

  /**
   * Gathers rows `rows` of `x` and their smoothed one-hot targets, the sample weights normalized to sum 1
   * and the dropout mask (scaled by 1 / keep, drawn from `new Rng(seed)`).
   */
  fill(x: Float32Array, y: Int32Array, rows: number[], seed: number): BatchFeeds {
    const { inputDim: d, hiddenUnits: h, classes: c } = this.dims;
    const { dropout, classWeights } = this.loss;
    const ls = this.loss.labelSmoothing ?? 0;
    const n = rows.length;
    const xb = this.x.subarray(0, n * d);
    const mask = this.mask.subarray(0, n * h);
    const target = this.target.subarray(0, n * c);
    const sw = this.sw.subarray(0, n);
    let total = 0;
    target.fill(ls / c);
    for (const [i, r] of rows.entries()) {
      xb.set(x.subarray(r * d, (r + 1) * d), i * d);
      target[i * c + y[r]] += 1 - ls;
      sw[i] = classWeights ? classWeights[y[r]] : 1;
      total += sw[i];
    }
    const norm = 1 / Math.max(total, 1e-12);
    for (let i = 0; i < n; i++) sw[i] *= norm;
    if (dropout > 0) dropoutMask(mask, dropout, seed);
    else mask.fill(1);
    return {
      feeds: {
        x: { data: xb, dims: [n, d] },
        mask: { data: mask, dims: [n, h] },
        target: { data: target, dims: [n, c] },
        sw: { data: sw, dims: [n, 1] },
      },
      logits: { data: this.logits.subarray(0, n * c), dims: [n, c] },
    };
  }
}

/**
 * Fills `mask` with 0 where `new Rng(seed).next() < rate` (one draw per element, in order) and 1 / (1 - rate)
 * elsewhere; {@link Rng}'s mulberry32 step is inlined, as the method call costs more than the mask is worth.
 */
export function dropoutMask(mask: Float32Array, rate: number, seed: number): void {
  const keep = 1 / (1 - rate);
  let state = seed >>> 0;
  for (let i = 0; i < mask.length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    mask[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 < rate ? 0 : keep;
  }
}
