/** Precision, recall, F1 and support of one class. */
export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** Accuracy, per-class metrics and the confusion matrix (rows = true class, columns = predicted class). */
export interface ClassificationReport {
  accuracy: number;
  /**
   * Unweighted mean of the per-class F1 over the classes that occur in `yTrue` or in `yPred` (as
   * scikit-learn does when no label list is given). A class that is neither present nor predicted has
   * an undefined (0/0) F1 and is left out rather than counted as 0, so unused classes do not drag the
   * mean down; a class present but never predicted, or predicted but never present, counts as 0.
   * 0 when there are no samples.
   */
  macroF1: number;
  perClass: Record<string, ClassMetrics>;
  confusionMatrix: number[][];
}

/**
 * Compares true and predicted class indices into `classes`. Undefined ratios (no predictions or no
 * samples of a class, or no samples at all) are 0, never NaN.
 */
export function classificationReport(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  classes: string[],
): ClassificationReport {
  if (yTrue.length !== yPred.length) throw new RangeError("yTrue and yPred differ in length");
  const c = classes.length;
  const confusionMatrix = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  let correct = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i];
    const p = yPred[i];
    if (!(Number.isInteger(t) && Number.isInteger(p) && t >= 0 && p >= 0 && t < c && p < c)) {
      throw new RangeError(`label pair (${t}, ${p}) at ${i} is not a class index`);
    }
    confusionMatrix[t][p]++;
    if (t === p) correct++;
  }
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
  const rows: [string, ClassMetrics][] = [];
  let f1Sum = 0;
  let f1Count = 0;
  classes.forEach((name, k) => {
    const tp = confusionMatrix[k][k];
    const support = confusionMatrix[k].reduce((a, b) => a + b, 0);
    const predicted = confusionMatrix.reduce((a, row) => a + row[k], 0);
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    const f1 = ratio(2 * precision * recall, precision + recall);
    rows.push([name, { precision, recall, f1, support }]);
    if (support > 0 || predicted > 0) {
      f1Sum += f1;
      f1Count++;
    }
  });
  // fromEntries defines own properties: a class named "__proto__" stays a class.
  const perClass: Record<string, ClassMetrics> = Object.fromEntries(rows);
  return {
    accuracy: ratio(correct, yTrue.length),
    macroF1: ratio(f1Sum, f1Count),
    perClass,
    confusionMatrix,
  };
}

/** The `k` most probable classes of one probability vector, most probable first (ties: lower index first). */
export function topK(
  probs: Float32Array,
  classes: string[],
  k: number,
): { label: string; probability: number }[] {
  if (probs.length !== classes.length) throw new RangeError("probs and classes differ in length");
  const order = Array.from(classes, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  return order
    .slice(0, Math.max(0, Math.floor(k)))
    .map((i) => ({ label: classes[i], probability: probs[i] }));
}
