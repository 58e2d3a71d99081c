import type { DatasetItem } from "../datasets/schemas.js";
import { expectedCalibrationError, fitTemperature, meanNll, softmaxRows } from "./calibration.js";
import { type LabelledRows, round } from "./fit-head.js";
import type { HeadTrainer } from "./head.js";
import { type ClassificationReport, classificationReport } from "./metrics.js";
import { rejectThreshold } from "./open-set.js";

/** Share of validation images the unknown rule may reject. */
export const OPEN_SET_REJECT_RATE = 0.05;
/** How the unknown rule scores an image (see src/training/open-set.ts). */
export const OPEN_SET_METHOD = "mahalanobis-diag-nearest-class-mean";

/** Temperature scaling fitted on validation, with ECE (15 bins) before and after. */
export interface Calibration {
  temperature: number;
  eceBefore: number;
  eceAfter: number;
}

/** The unknown rule: threshold on the nearest-class Mahalanobis score, fitted on validation. */
export interface OpenSet {
  method: string;
  threshold: number;
  validationRejectRate: number;
}

/** A split's metrics with calibrated probabilities. */
export type SplitMetrics = ClassificationReport & { loss: number; ece: number };

/** Fits the temperature on validation logits (none without validation rows). */
export function calibrate(head: HeadTrainer, val: LabelledRows | undefined): Calibration | undefined {
  if (!val || val.y.length === 0) return undefined;
  const C = head.params.classes;
  const logits = head.logits(val.x, val.y.length);
  const temperature = fitTemperature(logits, val.y, C);
  const ece = (t: number) => expectedCalibrationError(softmaxRows(logits, C, t), val.y, C);
  return { temperature: round(temperature), eceBefore: round(ece(1)), eceAfter: round(ece(temperature)) };
}

/** Picks the unknown threshold so that about {@link OPEN_SET_REJECT_RATE} of validation scores lie above it. */
export function fitOpenSet(scores: Float32Array | undefined): OpenSet | undefined {
  const n = scores?.length ?? 0;
  if (!scores || n === 0) return undefined;
  const threshold = rejectThreshold(scores, OPEN_SET_REJECT_RATE);
  let rejected = 0;
  for (const s of scores) if (s > threshold) rejected++;
  return { method: OPEN_SET_METHOD, threshold, validationRejectRate: round(rejected / n) };
}

/** One row of the evaluation split that the model got wrong. */
export interface Misclassified {
  path: string;
  trueLabel: string;
  predicted: string;
  probability: number;
}

/**
 * Metrics of the head on a split with calibrated probabilities (temperature `t`), and its errors, most
 * confident first. `items[rows[i]]` is the item of row `i`.
 */
export function evaluateSplit(
  head: HeadTrainer,
  rows: LabelledRows,
  t: number,
  classes: string[],
  items: { list: DatasetItem[]; rows: number[] },
): { metrics: SplitMetrics; misclassified: Misclassified[] } {
  const C = classes.length;
  const n = rows.y.length;
  const probs = softmaxRows(head.logits(rows.x, n), C, t);
  const predicted = new Int32Array(n);
  const misclassified: Misclassified[] = [];
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c] > probs[i * C + k]) k = c;
    predicted[i] = k;
    if (k !== rows.y[i]) {
      misclassified.push({
        path: items.list[items.rows[i]].path,
        trueLabel: classes[rows.y[i]],
        predicted: classes[k],
        probability: round(probs[i * C + k]),
      });
    }
  }
  misclassified.sort((a, b) => b.probability - a.probability || (a.path < b.path ? -1 : 1));
  const report = classificationReport(rows.y, predicted, classes);
  return {
    metrics: {
      ...report,
      loss: round(meanNll(probs, rows.y, C)),
      ece: round(expectedCalibrationError(probs, rows.y, C)),
    },
    misclassified,
  };
}
