import { readFile } from "node:fs/promises";
import path from "node:path";
import { initTfjs, tf } from "../lib/tfjs.js";
import { Adam } from "./adam.js";
import { BatchBuilder } from "./head-batch.js";
import { buildForwardGraph, buildTrainGraph, type HeadDims } from "./head-graph.js";
import { DenseHeadPredictor, type HeadPredictor } from "./head-predictor.js";
import { type FoldTransform, foldTransform, writeLayersModel } from "./head-save.js";
import {
  argmax,
  checkParams,
  type EpochOptions,
  type EpochResult,
  type EvalResult,
  type HeadParams,
  type HeadState,
  type NamedArray,
  sameShapes,
  WEIGHT_NAMES,
} from "./head-types.js";
import { SyncOrtSession } from "./ort-sync.js";

export type {
  EpochOptions,
  EpochResult,
  EvalResult,
  FoldTransform,
  HeadParams,
  HeadPredictor,
  HeadState,
  NamedArray,
};

const FORWARD_ROWS = 4096;

/**
 * Trains the classifier head on feature vectors with a manual, interruptible minibatch loop: the forward and
 * backward passes run as ONNX graphs on ONNX Runtime's CPU provider (all cores), Adam in a WebAssembly SIMD
 * kernel. A TF.js layers model is kept only to create the initial weights and to save the head.
 */
export class HeadTrainer {
  private readonly dims: HeadDims;
  private readonly shapes: number[][];
  private readonly weights: Float32Array[];
  private readonly adam: Adam;
  private momentNames: string[];
  private hasMoments = false;
  private trainSession?: SyncOrtSession;
  private forwardSession?: SyncOrtSession;

  private constructor(
    readonly params: HeadParams,
    private readonly model: tf.Sequential,
  ) {
    const { inputDim: d, hiddenUnits: h, classes: c } = params;
    this.dims = { inputDim: d, hiddenUnits: h, classes: c };
    this.shapes = [[d, h], [h], [h, c], [c]];
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    this.adam = new Adam(
      params.learningRate,
      vars.map((v) => v.size),
    );
    for (const [i, v] of vars.entries()) this.adam.params[i].set(v.dataSync());
    this.weights = this.adam.params;
    this.momentNames = [...vars.map((v) => `${v.name}/m`), ...vars.map((v) => `${v.name}/v`)];
    const train = new SyncOrtSession(buildTrainGraph(this.dims));
    try {
      this.forwardSession = new SyncOrtSession(buildForwardGraph(this.dims));
    } catch (err) {
      train.release();
      throw err;
    }
    this.trainSession = train;
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
    try {
      return new HeadTrainer(params, model);
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  /** Rebuilds a head from {@link HeadTrainer.getState}, including the optimizer, to resume training exactly. */
  static async fromState(params: HeadParams, state: HeadState): Promise<HeadTrainer> {
    const head = await HeadTrainer.create(params);
    try {
      head.setState(state);
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
    const batch = new BatchBuilder(this.dims, this.params, Math.min(batchSize, n));
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let step = 0;
    for (; step < steps && !options.shouldStop?.(); step++) {
      const rows = order.slice(step * batchSize, (step + 1) * batchSize);
      const { loss, hits } = this.trainBatch(x, y, rows, rng.int(0x7fffffff), batch);
      lossSum += loss * rows.length;
      correct += hits;
      seen += rows.length;
      await options.onBatch?.(step + 1, steps, loss);
    }
    return { loss: seen ? lossSum / seen : 0, accuracy: seen ? correct / seen : 0, stopped: step < steps };
  }

  /** Sets Adam's learning rate for the following steps (learning-rate schedules). */
  setLearningRate(lr: number): void {
    if (!(lr > 0)) throw new RangeError("learning rate must be positive");
    this.adam.learningRate = lr;
  }

  /** Mean cross-entropy, accuracy and predicted classes, without dropout, `batchSize` rows per run. */
  evaluate(x: Float32Array, y: Int32Array, batchSize = FORWARD_ROWS): EvalResult {
    const n = this.checkData(x, y);
    const c = this.params.classes;
    const logits = this.logits(x, n, batchSize);
    const predicted = new Int32Array(n);
    let lossSum = 0;
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = logits.subarray(i * c, (i + 1) * c);
      predicted[i] = argmax(row);
      if (predicted[i] === y[i]) correct++;
      const max = row[predicted[i]];
      let sum = 0;
      for (let k = 0; k < c; k++) sum += Math.exp(row[k] - max);
      lossSum += Math.log(sum) + max - row[y[i]];
    }
    return { loss: n ? lossSum / n : 0, accuracy: n ? correct / n : 0, predicted };
  }

  /** Logits of `n` feature vectors (row-major in `x`) without dropout, as `n * classes` floats. */
  logits(x: Float32Array, n: number, rowsPerRun = FORWARD_ROWS): Float32Array {
    const { inputDim: d, classes: c } = this.params;
    if (!Number.isInteger(n) || n < 0 || x.length < n * d)
      throw new RangeError(`x must hold ${n} x ${d} floats`);
    const session = this.session("forward");
    const out = new Float32Array(n * c);
    const rows = Math.max(1, Math.floor(rowsPerRun));
    for (let start = 0; start < n; start += rows) {
      const m = Math.min(rows, n - start);
      const feeds = {
        x: { data: x.subarray(start * d, (start + m) * d), dims: [m, d] },
        ...this.weightFeeds(),
      };
      session.run(feeds, { logits: { data: out.subarray(start * c, (start + m) * c), dims: [m, c] } });
    }
    return out;
  }

  /** Class probabilities of `n` feature vectors, as `n * classes` floats. */
  predictProba(x: Float32Array, n: number): Float32Array {
    const c = this.params.classes;
    const out = this.logits(x, n);
    for (let r = 0; r < n; r++) {
      const row = out.subarray(r * c, (r + 1) * c);
      const max = row[argmax(row)];
      let sum = 0;
      for (let k = 0; k < c; k++) sum += row[k] = Math.exp(row[k] - max);
      for (let k = 0; k < c; k++) row[k] /= sum;
    }
    return out;
  }

  /** Copies of the four weight arrays (`hidden/kernel`, `hidden/bias`, `output/kernel`, `output/bias`). */
  getWeights(): NamedArray[] {
    return this.weights.map((w, i) => ({
      name: WEIGHT_NAMES[i],
      shape: [...this.shapes[i]],
      dtype: "float32",
      data: w.slice(),
    }));
  }

  /** Replaces the weights (e.g. with the best epoch's); the optimizer state is kept. */
  setWeights(weights: NamedArray[]): void {
    if (!sameShapes(weights, this.shapes) || weights.some((w) => w.dtype !== "float32")) {
      throw new RangeError("the weights do not match the head's parameters");
    }
    for (const [i, w] of weights.entries()) this.weights[i].set(w.data);
  }

  /** Copies the weights and the optimizer state into plain typed arrays. */
  async getState(): Promise<HeadState> {
    const { m, v, iterations } = this.adam;
    const iter: NamedArray = { name: "iter", shape: [], dtype: "int32", data: Int32Array.of(iterations) };
    const moments = this.hasMoments ? [...m, ...v] : [];
    const optimizer = moments.map((data, i): NamedArray => {
      const shape = [...this.shapes[i % 4]];
      return { name: this.momentNames[i], shape, dtype: "float32", data: data.slice() };
    });
    return { weights: this.getWeights(), optimizer: [iter, ...optimizer] };
  }

  /**
   * Writes `model.json` + `weights.bin` (TF.js layers format) into `dir`; publish `dir` atomically yourself.
   * With `transform`, the saved model takes raw features: see {@link foldTransform}.
   */
  async saveModel(dir: string, transform?: FoldTransform): Promise<void> {
    const weights = transform ? foldTransform(this.weights, transform) : this.weights;
    await writeLayersModel(this.model, weights, dir);
  }

  /** Releases the ONNX Runtime sessions and the layers model's tensors. */
  dispose(): void {
    this.trainSession?.release();
    this.forwardSession?.release();
    if (this.trainSession) this.model.dispose();
    this.trainSession = this.forwardSession = undefined;
  }

  private session(kind: "train" | "forward"): SyncOrtSession {
    const session = kind === "train" ? this.trainSession : this.forwardSession;
    if (!session) throw new Error("the head was disposed");
    return session;
  }

  private weightFeeds() {
    const [w1, b1, w2, b2] = this.weights.map((data, i) => ({ data, dims: this.shapes[i] }));
    return { w1, b1, w2, b2 };
  }

  private checkData(x: Float32Array, y: Int32Array): number {
    const n = y.length;
    if (x.length !== n * this.params.inputDim) throw new RangeError("x and y sizes do not match");
    for (let i = 0; i < n; i++) {
      if (!(y[i] >= 0 && y[i] < this.params.classes)) throw new RangeError(`label ${y[i]} is out of range`);
    }
    return n;
  }

  private trainBatch(x: Float32Array, y: Int32Array, rows: number[], seed: number, batch: BatchBuilder) {
    const { feeds, logits } = batch.fill(x, y, rows, seed);
    const [dw1, db1, dw2, db2] = this.adam.grads.map((data, i) => ({ data, dims: this.shapes[i] }));
    const out = this.session("train").run(
      { ...feeds, ...this.weightFeeds() },
      { loss: null, dw1, db1, dw2, db2, logits },
    );
    this.adam.step();
    this.hasMoments = true;
    const c = this.params.classes;
    let hits = 0;
    for (const [i, r] of rows.entries())
      if (argmax(logits.data.subarray(i * c, (i + 1) * c)) === y[r]) hits++;
    return { loss: out.loss[0], hits };
  }

  private setState(state: HeadState): void {
    const { weights, optimizer } = state;
    const moments = optimizer.slice(1);
    if (
      !sameShapes(weights, this.shapes) ||
      optimizer[0]?.name !== "iter" ||
      !sameShapes(moments, moments.length ? [...this.shapes, ...this.shapes] : [])
    ) {
      throw new RangeError("the checkpointed state does not match the head's parameters");
    }
    this.setWeights(weights.map((w) => ({ ...w, dtype: "float32" })));
    this.adam.iterations = Number(optimizer[0].data[0]);
    for (const [i, a] of moments.entries()) (i < 4 ? this.adam.m[i] : this.adam.v[i - 4]).set(a.data);
    if (moments.length) this.momentNames = moments.map((a) => a.name);
    this.hasMoments = moments.length > 0;
  }
}
