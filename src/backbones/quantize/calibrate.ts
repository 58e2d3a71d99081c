import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { PHOTOS_DIR } from "../../lib/paths.js";
import { Rng } from "../../lib/rng.js";
import type { Preprocessing } from "../manifest.js";
import { preprocessImage } from "../preprocess.js";
import type { Range } from "./qdq.js";

const { onnx } = onnxProto;

/** Options of {@link calibrate}. */
export interface CalibrateOptions {
  /** Input name; the model's first input when absent. */
  inputName?: string;
  /** Images per calibration run (every intermediate tensor of the batch is held at once). */
  batchSize?: number;
}

/**
 * The calibration images: every photo in `dir` (default: the shipped assets/photos) through the evaluation
 * transform, plus `augmentedViews` training-augmented views of each (seeded, so always the same tensors).
 *
 * @returns one `3 * inputSize²` tensor per image, in the manifest's layout.
 */
export async function calibrationImages(
  p: Preprocessing,
  augmentedViews = 7,
  dir = PHOTOS_DIR,
): Promise<Float32Array[]> {
  const files = (await readdir(dir)).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  if (files.length === 0) throw new Error(`no calibration photos in ${dir}`);
  const rng = new Rng(20_240_601);
  const out: Float32Array[] = [];
  for (const f of files) {
    const bytes = await readFile(path.join(dir, f));
    out.push(await preprocessImage(bytes, p));
    for (let v = 0; v < augmentedViews; v++) out.push(await preprocessImage(bytes, p, { augment: rng }));
  }
  return out;
}

/**
 * Runs ONNX Runtime's basic (hardware-independent) graph optimisations, which fold BatchNormalization and
 * constants into the Conv weights, and returns the optimised model.
 */
export async function basicOptimized(model: Uint8Array, workFile: string): Promise<Uint8Array> {
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: "basic",
    optimizedModelFilePath: workFile,
  });
  await session.release();
  return new Uint8Array(await readFile(workFile));
}

/**
 * Observed min/max of every node output of `model` over `images` (float32 tensors of one image each,
 * `dims` without the batch axis), computed `batchSize` images at a time; the graph input's range is
 * stored under its name.
 */
export async function calibrate(
  model: Uint8Array,
  images: Float32Array[],
  dims: number[],
  options: CalibrateOptions = {},
): Promise<Map<string, Range>> {
  const m = onnx.ModelProto.decode(model);
  const g = m.graph;
  if (!g?.node) throw new Error("model has no graph");
  const outputs = new Set((g.output ?? []).map((o) => o.name ?? ""));
  const tensors = g.node.flatMap((n) => n.output ?? []).filter((t) => t && !outputs.has(t));
  for (const name of tensors) g.output?.push({ name, type: { tensorType: { elemType: 1 } } });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish(), {
    graphOptimizationLevel: "disabled",
  });
  const ranges = new Map<string, Range>();
  const widen = (name: string, data: ArrayLike<number>) => {
    const r = ranges.get(name) ?? { min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY };
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < r.min) r.min = v;
      if (v > r.max) r.max = v;
    }
    ranges.set(name, r);
  };
  try {
    const inputName = options.inputName ?? session.inputNames[0];
    const size = dims.reduce((a, b) => a * b, 1);
    const batchSize = Math.max(1, options.batchSize ?? 4);
    for (let start = 0; start < images.length; start += batchSize) {
      const batch = images.slice(start, start + batchSize);
      const data = new Float32Array(batch.length * size);
      for (const [i, img] of batch.entries()) data.set(img, i * size);
      widen(inputName, data);
      const result = await session.run({
        [inputName]: new ort.Tensor("float32", data, [batch.length, ...dims]),
      });
      for (const [name, value] of Object.entries(result)) {
        if (value.type === "float32") widen(name, value.data as Float32Array);
        value.dispose();
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}
