import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Preprocessing } from "../manifest.js";
import { imageDims } from "../runtime/shapes.js";
import { basicOptimized, calibrate, calibrationImages } from "./calibrate.js";
import { type QdqOptions, quantizeQdq } from "./qdq.js";

/** Bumped whenever the quantized model for the same float model would change: part of cache keys. */
export const QUANTIZER_VERSION = "qdq-int8-1";

/** Options of {@link quantizeBackbone}. */
export interface QuantizeOptions extends QdqOptions {
  /** Input name; the model's first input when absent. */
  inputName?: string;
  /** Calibration tensors; by default {@link calibrationImages} of the shipped photos. */
  images?: Float32Array[];
}

/**
 * Static int8 post-training quantization of a float ONNX backbone: ONNX Runtime's basic optimisations
 * (BatchNormalization folded into Conv), min/max calibration of every activation on real photos
 * preprocessed as `p` says, then {@link quantizeQdq}. ONNX Runtime turns the result into QLinearConv /
 * QLinearAdd kernels on the CPU.
 *
 * @returns the quantized model (ONNX bytes).
 */
export async function quantizeBackbone(
  model: Uint8Array,
  p: Preprocessing,
  options: QuantizeOptions = {},
): Promise<Uint8Array> {
  const work = await mkdtemp(path.join(os.tmpdir(), "quantize-"));
  try {
    const optimized = await basicOptimized(model, path.join(work, "basic.onnx"));
    const images = options.images ?? (await calibrationImages(p));
    const dims = imageDims(p.layout, p.inputSize);
    const ranges = await calibrate(optimized, images, dims, { inputName: options.inputName });
    return quantizeQdq(optimized, ranges, options);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
