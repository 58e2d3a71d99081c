import { createRequire } from "node:module";
import path from "node:path";
import { tf } from "../lib/tfjs.js";

/** Pretrained Keras backbones shipped (as CommonJS-wrapped weights) in the nsfwjs npm package. */
export type NsfwjsModelName = "mobilenet_v2" | "inception_v3";

/** Layer whose flattened output is the feature vector feeding nsfwjs's own dense head. */
export const NSFWJS_FEATURE_LAYERS: Record<NsfwjsModelName, string> = {
  mobilenet_v2: "flatten_1",
  inception_v3: "flatten_1",
};

/** Values per image of {@link NSFWJS_FEATURE_LAYERS}. */
export const NSFWJS_FEATURE_DIMS: Record<NsfwjsModelName, number> = {
  mobilenet_v2: 1280,
  inception_v3: 2048,
};

/** Side of the square RGB input, scaled to [0, 1] (pixel / 255, no mean/std). */
export const NSFWJS_INPUT_SIZE: Record<NsfwjsModelName, number> = {
  mobilenet_v2: 224,
  inception_v3: 299,
};

interface NsfwjsModelModule {
  modelTopology: object;
  weightsManifest: tf.io.WeightsManifestConfig;
}

const require = createRequire(import.meta.url);

function loadModule<T>(file: string): T {
  const resolved = require.resolve(file);
  try {
    return require(resolved) as T;
  } finally {
    delete require.cache[resolved];
  }
}

/**
 * Reads an nsfwjs built-in model (`node_modules/nsfwjs/dist/models/<name>/model.min.js` and its
 * base64 weight shards) into in-memory TF.js artifacts with all shards in one `weightData` buffer.
 */
export function nsfwjsArtifacts(name: NsfwjsModelName): tf.io.ModelArtifacts {
  if (!Object.hasOwn(NSFWJS_INPUT_SIZE, name)) throw new Error(`Unknown nsfwjs model '${name}'`);
  const dir = path.join(path.dirname(require.resolve("nsfwjs")), "..", "models", name);
  const { modelTopology, weightsManifest } = loadModule<NsfwjsModelModule>(path.join(dir, "model.min.js"));
  const shards = weightsManifest.flatMap((group) =>
    group.paths.map((p) => Buffer.from(loadModule<string>(path.join(dir, `${p}.min.js`)), "base64")),
  );
  const weightData = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  let offset = 0;
  for (const shard of shards) {
    weightData.set(shard, offset);
    offset += shard.length;
  }
  return {
    modelTopology,
    weightSpecs: weightsManifest.flatMap((group) => group.weights),
    weightData: weightData.buffer,
    format: "layers-model",
    generatedBy: "nsfwjs",
  };
}

/** Loads an nsfwjs built-in as a TF.js LayersModel (initialize the backend with `initTfjs()` first). */
export function loadNsfwjsModel(name: NsfwjsModelName): Promise<tf.LayersModel> {
  return tf.loadLayersModel(tf.io.fromMemory(nsfwjsArtifacts(name)));
}
