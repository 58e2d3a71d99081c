import assert from "node:assert/strict";
import type { CompiledKerasOnnx } from "../../src/backbones/keras-onnx/compile.js";
import { compareOnnxWithTfjs } from "../../src/backbones/keras-onnx/verify.js";
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

/** Runs the Keras model and its compiled ONNX graph on a seeded random batch and asserts they agree. */
export async function assertOnnxMatchesTfjs(
  model: tf.LayersModel,
  compiled: CompiledKerasOnnx,
  batch: number,
  seed: number,
): Promise<void> {
  const x = tf.randomNormal([batch, ...compiled.inputShape], 0, 1, "float32", seed);
  const [r] = await compareOnnxWithTfjs(model, compiled, [x]);
  x.dispose();
  assert.equal(r.onnx.length, batch * compiled.featureDim);
  assert.ok(
    r.maxRelDiff < 1e-4,
    `max diff ${r.maxAbsDiff} (relative ${r.maxRelDiff}, max |ref| ${r.maxAbsRef})`,
  );
}
