import path from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../lib/atomic.js";
import { tf } from "../lib/tfjs.js";

/** Standardization and temperature folded into saved weights (see {@link foldTransform}). */
export interface FoldTransform {
  /** Per-feature mean subtracted from raw features. */
  mean: Float32Array;
  /** Per-feature factor applied after subtracting the mean. */
  invStd: Float32Array;
  /** Softmax temperature (> 0) dividing the logits. */
  temperature: number;
}

/**
 * Folds `z = (x - mean) * invStd` and `logits / temperature` into the head's weights `[w1 (D x H), b1, w2
 * (H x C), b2]`, so that the folded head applied to raw `x` gives `softmax(head(z) / temperature)`.
 */
export function foldTransform(weights: Float32Array[], t: FoldTransform): Float32Array[] {
  const [w1, b1, w2, b2] = weights;
  const d = t.mean.length;
  const h = b1.length;
  if (t.invStd.length !== d || w1.length !== d * h)
    throw new RangeError("transform size does not match inputDim");
  if (!(t.temperature > 0 && Number.isFinite(t.temperature)))
    throw new RangeError("temperature must be positive");
  const k1 = new Float32Array(w1.length);
  const shift = Float64Array.from(b1);
  for (let i = 0; i < d; i++) {
    const s = t.invStd[i];
    const ms = t.mean[i] * s;
    for (let j = 0, r = i * h; j < h; j++) {
      k1[r + j] = w1[r + j] * s;
      shift[j] -= ms * w1[r + j];
    }
  }
  const inv = 1 / t.temperature;
  return [k1, Float32Array.from(shift), w2.map((v) => v * inv), b2.map((v) => v * inv)];
}

/**
 * Assigns `weights` to the layers model's four variables and writes `model.json` + `weights.bin` (TF.js
 * layers format) into `dir`.
 */
export async function writeLayersModel(
  model: tf.Sequential,
  weights: Float32Array[],
  dir: string,
): Promise<void> {
  tf.tidy(() => {
    for (const [i, v] of model.trainableWeights.entries()) v.write(tf.tensor(weights[i], v.read().shape));
  });
  await model.save(
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
