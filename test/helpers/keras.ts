import { tf } from "../../src/lib/tfjs.js";

/** A symbolic tensor of the functional layers API. */
export type ST = tf.SymbolicTensor;

/** Applies a layer to symbolic input(s). */
export function on(layer: tf.layers.Layer, x: ST | ST[]): ST {
  return layer.apply(x) as ST;
}

/** Replaces every weight with seeded random values (variances and gammas positive). */
export function randomizeWeights(model: tf.LayersModel, seed: number): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const positive = /variance|gamma/.test(w.originalName);
      return tf.randomUniform(
        w.shape as number[],
        positive ? 0.5 : -0.5,
        positive ? 1.5 : 0.5,
        "float32",
        s++,
      );
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}
