import type { EpochRecord, TrainParams } from "../jobs/schemas.js";
import { Rng } from "../lib/rng.js";
import { type HeadState, HeadTrainer, type NamedArray } from "./head.js";
import type { HeadConfig } from "./sweep.js";

/** Labelled, z-scored feature rows. */
export interface LabelledRows {
  x: Float32Array;
  y: Int32Array;
}

/** The best epoch of a head so far: its weights and validation figures (training loss without validation). */
export interface BestEpoch {
  epoch: number;
  loss: number;
  accuracy: number;
  weights: NamedArray[];
}

/** Where a head's training stands after an epoch: enough to resume it exactly. */
export interface HeadProgress {
  epoch: number;
  history: EpochRecord[];
  head: HeadState;
  rngState: number;
  best: BestEpoch;
  /** True when this head needs no more epochs (last epoch or early stopping). */
  finished: boolean;
}

/** What {@link fitHead} needs. */
export interface FitHeadOptions {
  config: HeadConfig;
  params: TrainParams;
  inputDim: number;
  classes: number;
  classWeights?: Float32Array;
  /** Training rows for an epoch (augmented jobs use another cached view each epoch). */
  trainRows: (epoch: number) => Promise<LabelledRows>;
  val?: LabelledRows;
  /** The state of an unfinished head to resume. */
  resume?: HeadProgress;
  /** Called after every epoch, before the next one starts (checkpoint, job record); may throw to stop. */
  onEpoch: (progress: HeadProgress) => Promise<void>;
  onBatch?: (epoch: number, step: number, steps: number) => void | Promise<void>;
  shouldStop: () => boolean;
}

/** The result of {@link fitHead}: the best epoch's head, or `cancelled`. */
export type FitHeadResult =
  | { cancelled: false; history: EpochRecord[]; best: BestEpoch }
  | { cancelled: true };

/**
 * Trains one head configuration epoch by epoch: Adam with the job's learning-rate schedule, validation
 * after each epoch, early stopping on validation loss, and the best validation epoch's weights kept (the
 * last epoch's without validation data).
 */
export async function fitHead(o: FitHeadOptions): Promise<FitHeadResult> {
  const { config, params } = o;
  const hp = {
    inputDim: o.inputDim,
    classes: o.classes,
    hiddenUnits: config.hiddenUnits,
    dropout: config.dropout,
    learningRate: config.learningRate,
    labelSmoothing: config.labelSmoothing,
    classWeights: o.classWeights,
    seed: params.seed,
  };
  const head = o.resume ? await HeadTrainer.fromState(hp, o.resume.head) : await HeadTrainer.create(hp);
  try {
    const rng = new Rng(o.resume ? o.resume.rngState : params.seed);
    const history = [...(o.resume?.history ?? [])];
    let best = o.resume?.best;
    let finished = o.resume?.finished ?? false;
    for (let epoch = (o.resume?.epoch ?? 0) + 1; epoch <= config.epochs && !finished; epoch++) {
      const t0 = performance.now();
      head.setLearningRate(learningRateAt(params.lrSchedule, config.learningRate, epoch, config.epochs));
      const rows = await o.trainRows(epoch);
      const res = await head.trainEpoch(rows.x, rows.y, {
        batchSize: config.batchSize,
        rng,
        shouldStop: o.shouldStop,
        onBatch: (step, steps) => o.onBatch?.(epoch, step, steps),
      });
      if (res.stopped) return { cancelled: true };
      const ev = o.val && o.val.y.length > 0 ? head.evaluate(o.val.x, o.val.y) : undefined;
      const entry: EpochRecord = {
        epoch,
        loss: round(res.loss),
        accuracy: round(res.accuracy),
        ...(ev ? { valLoss: round(ev.loss), valAccuracy: round(ev.accuracy) } : {}),
        seconds: round((performance.now() - t0) / 1000, 3),
      };
      history.push(entry);
      const score = { loss: ev?.loss ?? res.loss, accuracy: ev?.accuracy ?? res.accuracy };
      if (!best || !ev || score.loss < best.loss) best = { epoch, ...score, weights: head.getWeights() };
      finished = epoch === config.epochs || shouldStopEarly(history, params.earlyStopping);
      await o.onEpoch({ epoch, history, head: await head.getState(), rngState: rng.state, best, finished });
    }
    if (!best) throw new Error("a head finished without any epoch");
    return { cancelled: false, history, best };
  } finally {
    head.dispose();
  }
}

/** The learning rate of a 1-based epoch: constant, or cosine-decayed from `lr` towards 0. */
export function learningRateAt(
  schedule: TrainParams["lrSchedule"],
  lr: number,
  epoch: number,
  epochs: number,
): number {
  if (schedule !== "cosine" || epochs <= 1) return lr;
  return lr * 0.5 * (1 + Math.cos((Math.PI * (epoch - 1)) / epochs));
}

/** True when validation loss (training loss without validation) has not improved by minDelta for `patience` epochs. */
export function shouldStopEarly(history: EpochRecord[], es: TrainParams["earlyStopping"]): boolean {
  if (!es || history.length <= es.patience) return false;
  const losses = history.map((h) => h.valLoss ?? h.loss);
  const bestBefore = Math.min(...losses.slice(0, losses.length - es.patience));
  return losses.slice(-es.patience).every((l) => l > bestBefore - es.minDelta);
}

/** Rounds a metric for the job record. */
export function round(v: number, digits = 5): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
