import type { Preprocessing } from "../manifest.js";

/** Dimensions of one image in a manifest's input layout: `[3, s, s]` (NCHW) or `[s, s, 3]` (NHWC). */
export function imageDims(layout: Preprocessing["layout"], size: number): [number, number, number] {
  return layout === "NCHW" ? [3, size, size] : [size, size, 3];
}

/**
 * Throws unless a backbone output holds `featureDim` values for each of `n` images, naming the output and
 * what the manifest says.
 */
export function checkFeatureCount(
  values: ArrayLike<number>,
  n: number,
  outputName: string,
  featureDim: number,
) {
  if (values.length !== n * featureDim) {
    throw new Error(
      `output '${outputName}' has ${values.length / n} values per image, manifest says ${featureDim}`,
    );
  }
}
