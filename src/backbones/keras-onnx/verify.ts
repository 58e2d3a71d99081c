import * as ort from "onnxruntime-node";
import { tf } from "../../lib/tfjs.js";
import type { CompiledKerasOnnx } from "./compile.js";

/** Outputs of a compiled model on ONNX Runtime and of the Keras model on TF.js, and how far apart they are. */
export interface OnnxTfjsComparison {
  /** max |onnx - tfjs| */
  maxAbsDiff: number;
  /** max |onnx - tfjs| / max(1, |tfjs|) */
  maxRelDiff: number;
  /** max |tfjs| */
  maxAbsRef: number;
  onnx: Float32Array;
  tfjs: Float32Array;
}

/** Runs a compiled model's `features` output on ONNX Runtime (CPU) for NHWC float32 batches. */
export async function runCompiledOnnx(
  compiled: CompiledKerasOnnx,
  batches: tf.Tensor[],
): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(compiled.onnx);
  try {
    const outputs: Float32Array[] = [];
    for (const x of batches) {
      const input = new ort.Tensor("float32", Float32Array.from(x.dataSync()), x.shape);
      const { features } = await session.run({ input });
      const expected = [x.shape[0], compiled.featureDim];
      if (features.dims.join() !== expected.join()) {
        throw new Error(`ONNX features have dims [${features.dims}], expected [${expected}]`);
      }
      outputs.push(features.data as Float32Array);
    }
    return outputs;
  } finally {
    await session.release();
  }
}

function compare(onnx: Float32Array, tfjs: Float32Array): OnnxTfjsComparison {
  if (tfjs.length !== onnx.length) throw new Error(`TF.js gave ${tfjs.length} values, ONNX ${onnx.length}`);
  let maxAbsDiff = 0;
  let maxRelDiff = 0;
  let maxAbsRef = 0;
  for (let i = 0; i < onnx.length; i++) {
    const diff = Math.abs(onnx[i] - tfjs[i]);
    const d = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff;
    maxAbsDiff = Math.max(maxAbsDiff, d);
    maxRelDiff = Math.max(maxRelDiff, d / Math.max(1, Math.abs(tfjs[i])));
    maxAbsRef = Math.max(maxAbsRef, Math.abs(tfjs[i]));
  }
  return { maxAbsDiff, maxRelDiff, maxAbsRef, onnx, tfjs };
}

/**
 * Checks a compilation: runs each NHWC batch through the ONNX model (one session) and through the Keras
 * model truncated at the compiled output layer (flattened to [N, D]) and reports how far apart they are.
 */
export async function compareOnnxWithTfjs(
  model: tf.LayersModel,
  compiled: CompiledKerasOnnx,
  batches: tf.Tensor[],
): Promise<OnnxTfjsComparison[]> {
  const onnx = await runCompiledOnnx(compiled, batches);
  const truncated = tf.model({ inputs: model.inputs, outputs: model.getLayer(compiled.outputLayer).output });
  return batches.map((x, i) => {
    const tfjs = tf.tidy(() => (truncated.predict(x) as tf.Tensor).reshape([x.shape[0], -1]).dataSync());
    return compare(onnx[i], Float32Array.from(tfjs));
  });
}
