import { tf } from "../lib/tfjs.js";

/** A trained head ready for inference. */
export interface HeadPredictor {
  readonly inputDim: number;
  readonly classes: number;
  /** Class probabilities for `n` row-major feature vectors, as `n * classes` floats. */
  predictProba(x: Float32Array, n: number): Float32Array;
  dispose(): void;
}

/**
 * Inference of the two dense layers (relu, softmax) without a layers model: plain JS loops (faster than the
 * TF.js cpu backend at any batch size), or with `useTfjs` raw TF.js ops on weight tensors kept between
 * calls (the wasm backend beats plain JS even for a single vector).
 */
export class DenseHeadPredictor implements HeadPredictor {
  readonly inputDim: number;
  readonly hiddenUnits: number;
  readonly classes: number;
  private tensors?: tf.Tensor[];

  constructor(
    private readonly k1: Float32Array,
    private readonly b1: Float32Array,
    private readonly k2: Float32Array,
    private readonly b2: Float32Array,
    private readonly useTfjs = false,
  ) {
    this.hiddenUnits = b1.length;
    this.classes = b2.length;
    this.inputDim = k1.length / this.hiddenUnits;
    if (!Number.isInteger(this.inputDim) || k2.length !== this.hiddenUnits * this.classes) {
      throw new RangeError("inconsistent dense head weights");
    }
  }

  /** Builds the predictor from TF.js weight specs (`kernel, bias, kernel, bias`, float32) and their data. */
  static fromWeights(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer, useTfjs = false) {
    if (specs.length !== 4) throw new RangeError(`expected 4 weight tensors, found ${specs.length}`);
    let offset = 0;
    const arrays = specs.map((spec) => {
      if (spec.dtype !== "float32" || spec.quantization) throw new RangeError(`unsupported ${spec.name}`);
      const size = spec.shape.reduce((a, b) => a * b, 1);
      if (offset + size * 4 > data.byteLength) throw new RangeError("weights.bin is too short");
      const array = new Float32Array(data.slice(offset, offset + size * 4));
      offset += size * 4;
      return array;
    });
    return new DenseHeadPredictor(arrays[0], arrays[1], arrays[2], arrays[3], useTfjs);
  }

  predictProba(x: Float32Array, n: number): Float32Array {
    const { inputDim: d, classes: c } = this;
    if (x.length < n * d) throw new RangeError(`x must hold ${n} x ${d} floats`);
    if (this.useTfjs && n > 0) return this.predictTfjs(x.subarray(0, n * d), n);
    const out = new Float32Array(n * c);
    const hidden = new Float64Array(this.hiddenUnits);
    const logits = new Float64Array(c);
    for (let r = 0; r < n; r++) {
      affine(x.subarray(r * d, (r + 1) * d), this.k1, this.b1, hidden, true);
      affine(hidden, this.k2, this.b2, logits, false);
      const max = logits.reduce((a, v) => Math.max(a, v), Number.NEGATIVE_INFINITY);
      let sum = 0;
      for (let k = 0; k < c; k++) sum += logits[k] = Math.exp(logits[k] - max);
      for (let k = 0; k < c; k++) out[r * c + k] = logits[k] / sum;
    }
    return out;
  }

  /** Frees the TF.js copies of the weights, if any. */
  dispose(): void {
    if (this.tensors) tf.dispose(this.tensors);
    this.tensors = undefined;
  }

  private predictTfjs(x: Float32Array, n: number): Float32Array {
    const { inputDim: d, hiddenUnits: h, classes: c } = this;
    this.tensors ??= [
      tf.tensor2d(this.k1, [d, h]),
      tf.tensor1d(this.b1),
      tf.tensor2d(this.k2, [h, c]),
      tf.tensor1d(this.b2),
    ];
    const [k1, b1, k2, b2] = this.tensors;
    return tf.tidy(() => {
      const hidden = tf.relu(tf.add(tf.matMul(tf.tensor2d(x, [n, d]), k1), b1));
      return Float32Array.from(tf.softmax(tf.add(tf.matMul(hidden, k2), b2)).dataSync());
    });
  }
}

/** `out = input @ w + b` for one row, then relu when asked; rows of `w` for zero inputs are skipped. */
function affine(
  input: ArrayLike<number>,
  w: Float32Array,
  b: Float32Array,
  out: Float64Array,
  relu: boolean,
) {
  const m = b.length;
  out.set(b);
  for (let i = 0; i < input.length; i++) {
    const v = input[i];
    if (v === 0) continue;
    for (let j = 0, row = i * m; j < m; j++) out[j] += v * w[row + j];
  }
  if (relu) for (let j = 0; j < m; j++) out[j] = Math.max(0, out[j]);
}
