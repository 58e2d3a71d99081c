import { UnprocessableError } from "../errors.js";

/** `none`, `balanced`, or a weight per class name (missing classes weigh 1). */
export type ClassWeightsParam = "none" | "balanced" | Record<string, number>;

/**
 * Checks a class-weight map against a dataset's classes.
 *
 * @throws UnprocessableError (422 UNKNOWN_CLASS) naming classes the dataset does not have.
 */
export function checkClassWeights(param: ClassWeightsParam, classes: string[]): void {
  if (typeof param === "string") return;
  const unknown = Object.keys(param).filter((c) => !classes.includes(c));
  if (unknown.length > 0) {
    throw new UnprocessableError(
      `classWeights names classes the dataset does not have: ${unknown.join(", ")} (classes: ${classes.join(", ")})`,
      "UNKNOWN_CLASS",
    );
  }
}

/**
 * The loss weight of each class: undefined for `none`; for `balanced`, `n / (classes * n_c)` as
 * scikit-learn computes it (a class without training rows weighs 0); a map's values otherwise.
 */
export function resolveClassWeights(
  param: ClassWeightsParam,
  classes: string[],
  labels: ArrayLike<number>,
): Float32Array | undefined {
  if (param === "none") return undefined;
  if (param !== "balanced") return Float32Array.from(classes, (c) => param[c] ?? 1);
  const counts = new Array<number>(classes.length).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return Float32Array.from(counts, (n) => (n > 0 ? labels.length / (classes.length * n) : 0));
}
