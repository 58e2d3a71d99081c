import type { Rng } from "../lib/rng.js";

/** Hyper-parameters of the classifier head `Dense(hidden, relu) -> Dropout -> Dense(classes, softmax)`. */
export interface HeadParams {
  inputDim: number;
  classes: number;
  hiddenUnits: number;
  dropout: number;
  learningRate: number;
  seed: number;
  /** Label smoothing of the training loss, in [0, 1) (default 0). */
  labelSmoothing?: number;
  /** Per-class weights of the training loss (default: all 1). */
  classWeights?: Float32Array;
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

/** Names of the four weight arrays, in order. */
export const WEIGHT_NAMES = ["hidden/kernel", "hidden/bias", "output/kernel", "output/bias"];

/** Throws a RangeError for invalid hyper-parameters. */
export function checkParams(p: HeadParams): void {
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!posInt(p.inputDim) || !posInt(p.hiddenUnits) || !posInt(p.classes) || p.classes < 2) {
    throw new RangeError("inputDim and hiddenUnits must be positive integers, classes an integer >= 2");
  }
  if (!(p.dropout >= 0 && p.dropout < 1)) throw new RangeError("dropout must be in [0, 1)");
  if (!(p.learningRate > 0)) throw new RangeError("learningRate must be positive");
  if (!Number.isInteger(p.seed)) throw new RangeError("seed must be an integer");
  const ls = p.labelSmoothing ?? 0;
  if (!(ls >= 0 && ls < 1)) throw new RangeError("labelSmoothing must be in [0, 1)");
  const w = p.classWeights;
  if (w && (w.length !== p.classes || !w.every((v) => v >= 0 && Number.isFinite(v)))) {
    throw new RangeError("classWeights must hold one finite, non-negative weight per class");
  }
}

/** Whether `arrays` have exactly `shapes`, in order. */
export function sameShapes(arrays: NamedArray[], shapes: number[][]): boolean {
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  return arrays.length === shapes.length && arrays.every((a, i) => same(a.shape, shapes[i]));
}

/** Index of the largest value of `row` (the first on ties). */
export function argmax(row: Float32Array): number {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}
