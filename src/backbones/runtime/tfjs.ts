import { readFile } from "node:fs/promises";
import path from "node:path";
import { initTfjs, tf } from "../../lib/tfjs.js";
import type { OnnxInputSpec } from "./onnx.js";
import { checkFeatureCount, imageDims } from "./shapes.js";
import type { BackboneSession, RuntimeName } from "./types.js";

async function readSource(source: string, rel?: string): Promise<Uint8Array> {
  const target =
    rel === undefined
      ? source
      : /^https?:\/\//.test(source)
        ? new URL(rel, source).href
        : path.join(path.dirname(source), rel);
  if (/^https?:\/\//.test(target)) {
    const res = await fetch(target);
    if (!res.ok) throw new Error(`GET ${target}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  return readFile(target);
}

/**
 * Reads a TF.js model (model.json plus its weight shards) from a file path or an http(s) URL into
 * in-memory artifacts, without needing tfjs-node's file system handler.
 */
export async function loadTfjsArtifacts(modelJson: string): Promise<tf.io.ModelArtifacts> {
  const json = JSON.parse(Buffer.from(await readSource(modelJson)).toString("utf8"));
  const manifest: tf.io.WeightsManifestConfig = json.weightsManifest ?? [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const p of group.paths) chunks.push(await readSource(modelJson, p));
  }
  const weightData = Buffer.concat(chunks);
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    signature: json.signature,
    userDefinedMetadata: json.userDefinedMetadata,
    weightSpecs: specs,
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
  };
}

/**
 * Runs a TF.js layers or graph model as a backbone on the best TF.js backend available (native, wasm,
 * cpu). `spec.outputName` is a layer name (layers) or an output node name (graph).
 */
export async function openTfjsSession(
  artifacts: tf.io.ModelArtifacts,
  format: "tfjs-layers" | "tfjs-graph",
  spec: OnnxInputSpec,
): Promise<BackboneSession> {
  const backend = await initTfjs();
  const runtime = `tfjs-${backend}` as RuntimeName;
  const s = spec.inputSize;
  let predict: (x: tf.Tensor) => tf.Tensor;
  let dispose: () => void;
  if (format === "tfjs-layers") {
    const full = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const model = tf.model({
      inputs: full.inputs,
      outputs: full.getLayer(spec.outputName).output as tf.SymbolicTensor,
    });
    predict = (x) => model.predict(x) as tf.Tensor;
    dispose = () => full.dispose();
  } else {
    const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
    const feed = spec.inputName;
    predict = (x) =>
      (feed ? model.execute({ [feed]: x }, spec.outputName) : model.execute(x, spec.outputName)) as tf.Tensor;
    dispose = () => model.dispose();
  }
  return {
    runtime,
    async run(input, n) {
      const shape: [number, number, number, number] = [n, ...imageDims(spec.layout, s)];
      const out = tf.tidy(() =>
        predict(tf.tensor4d(input.subarray(0, n * 3 * s * s), shape)).reshape([n, -1]),
      );
      const values = (await out.data()) as Float32Array;
      out.dispose();
      checkFeatureCount(values, n, spec.outputName, spec.featureDim);
      return values;
    },
    async release() {
      dispose();
    },
  };
}
