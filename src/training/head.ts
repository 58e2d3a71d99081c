import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../lib/atomic.js";
import type { Rng } from "../lib/rng.js";
import { initTfjs, tf } from "../lib/tfjs.js";
import { DenseHeadPredictor, type HeadPredictor } from "./head-predictor.js";

export type { HeadPredictor };

/** Hyper-parameters of the classifier head `Dense(hidden, relu) -> Dropout -> Dense(classes, softmax)`. */
export interface HeadParams {
  inputDim: number;
  classes: number;
  hiddenUnits: number;
  dropout: number;
  learningRate: number;
  seed: number;
}

/** One tensor as a plain typed array. */
export interface NamedArray {
  name: string;
  shape: number[];
  dtype: "float32" | "int32";
  data: Float32Array | Int32Array;
}

/** Everything needed to resume training exactly: model weights and Adam's state (iteration count first). */
export interface HeadState {
  weights: NamedArray[];
  optimizer: NamedArray[];
}

/** Options of {@link HeadTrainer.trainEpoch}. */
export interface EpochOptions {
  batchSize: number;
  rng: Rng;
  /** Called after each batch with the 1-based step, the number of steps and the batch loss. */
  onBatch?: (step: number, steps: number, loss: number) => void | Promise<void>;
  /** Checked before each batch; true ends the epoch early. */
  shouldStop?: () => boolean;
}

/** Result of one (possibly stopped) training epoch; loss and accuracy are over the batches that ran. */
export interface EpochResult {
  loss: number;
  accuracy: number;
  stopped: boolean;
}

/** Result of {@link HeadTrainer.evaluate}. */
export interface EvalResult {
  loss: number;
  accuracy: number;
  predicted: Int32Array;
}

const WEIGHT_NAMES = ["hidden/kernel", "hidden/bias", "output/kernel", "output/bias"];

function checkParams(p: HeadParams): void {
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!posInt(p.inputDim) || !posInt(p.hiddenUnits) || !posInt(p.classes) || p.classes < 2) {
    throw new RangeError("inputDim and hiddenUnits must be positive integers, classes an integer >= 2");
  }
  if (!(p.dropout >= 0 && p.dropout < 1)) throw new RangeError("dropout must be in [0, 1)");
  if (!(p.learningRate > 0)) throw new RangeError("learningRate must be positive");
  if (!Number.isInteger(p.seed)) throw new RangeError("seed must be an integer");
}

function toNamed(name: string, t: tf.Tensor): NamedArray {
  const dtype = t.dtype === "int32" ? "int32" : "float32";
  const values = t.dataSync();
  const data = dtype === "int32" ? Int32Array.from(values) : Float32Array.from(values);
  return { name, shape: [...t.shape], dtype, data };
}

function sameShapes(arrays: NamedArray[], shapes: number[][]): boolean {
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  return arrays.length === shapes.length && arrays.every((a, i) => same(a.shape, shapes[i]));
}

/**
 * `x @ w + b` (then relu) with a hand-written gradient made of untransposed matMuls only (the wasm backend's
 * transposed BatchMatMul is ~30x slower) that computes dx only when `needDx`. Forward intermediates are
 * disposed before backprop, so everything the gradient reads is passed to `save`.
 */
function dense(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, relu: boolean, needDx: boolean): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xv, wv, bv] = (needDx ? args : [x, ...args]) as tf.Tensor[];
    const z = tf.add(tf.matMul(xv, wv), bv);
    const y = relu ? tf.relu(z) : z;
    save([y, xv, wv]);
    const gradFunc = (dy: tf.Tensor, [ys, xs, ws]: tf.Tensor[]) => {
      const g = relu ? tf.mul(dy, tf.step(ys)) : dy;
      const grads = [tf.matMul(tf.transpose(xs), g), tf.sum(g, 0)];
      return needDx ? [tf.matMul(g, tf.transpose(ws)), ...grads] : grads;
    };
    return { value: y, gradFunc };
  });
  return needDx ? op(x, w, b) : op(w, b);
}

/** Trains the classifier head on feature vectors with a manual, interruptible minibatch loop. */
export class HeadTrainer {
  private readonly vars: tf.Variable[];
  private readonly optimizer: tf.AdamOptimizer;

  private constructor(
    readonly params: HeadParams,
    private readonly model: tf.Sequential,
  ) {
    this.vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    this.optimizer = tf.train.adam(params.learningRate);
  }

  /** Builds a head with glorot-uniform weights seeded from `params.seed` (one seed per layer). */
  static async create(params: HeadParams): Promise<HeadTrainer> {
    checkParams(params);
    await initTfjs();
    const { inputDim, hiddenUnits: units, classes, dropout: rate, seed } = params;
    const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
    const model = tf.sequential();
    model.add(
      tf.layers.dense({ inputShape: [inputDim], units, activation: "relu", kernelInitializer: init(seed) }),
    );
    model.add(tf.layers.dropout({ rate }));
    model.add(tf.layers.dense({ units: classes, activation: "softmax", kernelInitializer: init(seed + 1) }));
    return new HeadTrainer(params, model);
  }

  /** Rebuilds a head from {@link HeadTrainer.getState}, including the optimizer, to resume training exactly. */
  static async fromState(params: HeadParams, state: HeadState): Promise<HeadTrainer> {
    const head = await HeadTrainer.create(params);
    try {
      await head.setState(state);
      return head;
    } catch (err) {
      head.dispose();
      throw err;
    }
  }

  /**
   * Reads a head saved by {@link HeadTrainer.saveModel} into a {@link DenseHeadPredictor} that runs on TF.js
   * with wasm or native backends and in plain JS with the cpu backend (plain JS is faster there).
   */
  static async loadForInference(dir: string): Promise<HeadPredictor> {
    const json = JSON.parse(await readFile(path.join(dir, "model.json"), "utf8"));
    const manifest = json.weightsManifest as tf.io.WeightsManifestConfig;
    const files = manifest.flatMap((group) => group.paths).map((p) => path.join(dir, path.basename(p)));
    const data = Buffer.concat(await Promise.all(files.map((f) => readFile(f))));
    const specs = manifest.flatMap((group) => group.weights);
    const useTfjs = (await initTfjs()) !== "cpu";
    return DenseHeadPredictor.fromWeights(specs, new Uint8Array(data).buffer, useTfjs);
  }

  /** One pass over `x` (n * inputDim, row-major) and labels `y` in an order shuffled by `rng`. */
  async trainEpoch(x: Float32Array, y: Int32Array, options: EpochOptions): Promise<EpochResult> {
    const n = this.checkData(x, y);
    const { batchSize, rng } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError("batchSize must be a positive integer");
    const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    const steps = Math.ceil(n / batchSize);
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let step = 0;
    for (; step < steps && !options.shouldStop?.(); step++) {
      const rows = order.slice(step * batchSize, (step + 1) * batchSize);
      const { loss, hits } = this.trainBatch(x, y, rows, rng.int(0x7fffffff));
      lossSum += loss * rows.length;
      correct += hits;
      seen += rows.length;
      await options.onBatch?.(step + 1, steps, loss);
    }
    return { loss: seen ? lossSum / seen : 0, accuracy: seen ? correct / seen : 0, stopped: step < steps };
  }

  /** Mean cross-entropy, accuracy and predicted classes, without dropout. */
  evaluate(x: Float32Array, y: Int32Array, batchSize = 512): EvalResult {
    const n = this.checkData(x, y);
    const d = this.params.inputDim;
    const predicted = new Int32Array(n);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < n; start += batchSize) {
      const m = Math.min(batchSize, n - start);
      const labels = y.subarray(start, start + m);
      const [loss, argmax] = tf.tidy(() => {
        const logits = this.logits(tf.tensor2d(x.subarray(start * d, (start + m) * d), [m, d]));
        const onehot = tf.oneHot(tf.tensor1d(labels, "int32"), this.params.classes);
        const none = tf.Reduction.NONE;
        return [
          tf.sum(tf.losses.softmaxCrossEntropy(onehot, logits, undefined, undefined, none)),
          tf.argMax(logits, 1),
        ];
      });
      lossSum += loss.dataSync()[0];
      predicted.set(argmax.dataSync(), start);
      tf.dispose([loss, argmax]);
    }
    for (let i = 0; i < n; i++) if (predicted[i] === y[i]) correct++;
    return { loss: n ? lossSum / n : 0, accuracy: n ? correct / n : 0, predicted };
  }

  /** Class probabilities of `n` feature vectors through the TF.js model, as `n * classes` floats. */
  predictProba(x: Float32Array, n: number): Float32Array {
    return tf.tidy(() => {
      const out = this.model.predict(tf.tensor2d(x, [n, this.params.inputDim]), { batchSize: 512 });
      return Float32Array.from((out as tf.Tensor).dataSync());
    });
  }

  /** Copies the weights and the optimizer state into plain typed arrays. */
  async getState(): Promise<HeadState> {
    const weights = this.vars.map((v, i) => toNamed(WEIGHT_NAMES[i], v));
    const named = await this.optimizer.getWeights();
    const optimizer = named.map((w) => toNamed(w.name, w.tensor));
    for (const w of named) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
    return { weights, optimizer };
  }

  /** Writes `model.json` + `weights.bin` (TF.js layers format) into `dir`; publish `dir` atomically yourself. */
  async saveModel(dir: string): Promise<void> {
    await this.model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
        await writeFileAtomic(path.join(dir, "weights.bin"), new Uint8Array(weightData));
        await writeJsonAtomic(path.join(dir, "model.json"), {
          format: artifacts.format,
          generatedBy: artifacts.generatedBy,
          convertedBy: null,
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
        });
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      }),
    );
  }

  /** Frees the model's and the optimizer's tensors. */
  dispose(): void {
    this.model.dispose();
    this.optimizer.dispose();
  }

  private checkData(x: Float32Array, y: Int32Array): number {
    const n = y.length;
    if (x.length !== n * this.params.inputDim) throw new RangeError("x and y sizes do not match");
    for (let i = 0; i < n; i++) {
      if (!(y[i] >= 0 && y[i] < this.params.classes)) throw new RangeError(`label ${y[i]} is out of range`);
    }
    return n;
  }

  private logits(xs: tf.Tensor2D, dropoutSeed?: number): tf.Tensor {
    const [k1, b1, k2, b2] = this.vars;
    let h = dense(xs, k1, b1, true, false);
    if (dropoutSeed !== undefined && this.params.dropout > 0) {
      h = tf.dropout(h, this.params.dropout, undefined, dropoutSeed);
    }
    return dense(h, k2, b2, false, true);
  }

  private trainBatch(x: Float32Array, y: Int32Array, rows: number[], seed: number) {
    const d = this.params.inputDim;
    const xb = new Float32Array(rows.length * d);
    const yb = new Int32Array(rows.length);
    rows.forEach((r, i) => {
      xb.set(x.subarray(r * d, (r + 1) * d), i * d);
      yb[i] = y[r];
    });
    const out: { hits?: tf.Tensor } = {};
    const loss = tf.tidy(() => {
      const xs = tf.tensor2d(xb, [rows.length, d]);
      const labels = tf.tensor1d(yb, "int32");
      const onehot = tf.oneHot(labels, this.params.classes);
      const cost = () => {
        const logits = this.logits(xs, seed);
        out.hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "int32")));
        return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
      };
      return this.optimizer.minimize(cost, true, this.vars) as tf.Scalar;
    });
    const result = { loss: loss.dataSync()[0], hits: out.hits!.dataSync()[0] };
    tf.dispose([loss, out.hits!]);
    return result;
  }

  private async setState(state: HeadState): Promise<void> {
    const { weights, optimizer } = state;
    const shapes = this.vars.map((v) => v.shape);
    const moments = optimizer.slice(1);
    if (
      !sameShapes(weights, shapes) ||
      optimizer[0]?.name !== "iter" ||
      !sameShapes(moments, moments.length ? [...shapes, ...shapes] : [])
    ) {
      throw new RangeError("the checkpointed state does not match the head's parameters");
    }
    tf.tidy(() => {
      for (const [i, v] of this.vars.entries())
        v.assign(tf.tensor(weights[i].data.slice(), weights[i].shape));
    });
    const named = optimizer.map((a) => ({
      name: a.name,
      tensor: tf.tensor(a.data.slice(), a.shape, a.dtype),
    }));
    await this.optimizer.setWeights(named);
    tf.dispose(named.map((w) => w.tensor));
  }
}
