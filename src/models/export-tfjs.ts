import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { create as createTar } from "tar";
import type { BackboneManifest } from "../backbones/manifest.js";
import { uniqueNamer } from "../lib/names.js";
import { initTfjs, tf } from "../lib/tfjs.js";
import {
  type DenseHead,
  type ExporterOptions,
  exists,
  exportUnsupported,
  readDenseHead,
  removeStaleExports,
} from "./export.js";
import type { ModelManifest } from "./schemas.js";

/** Bumped whenever the exported archive for the same model and backbone would change: part of its cache name. */
export const TFJS_EXPORT_VERSION = "tfjs-export-1";
/** Name of the exported model's output layer: calibrated class probabilities, `[N, classes]`. */
export const TFJS_PROBABILITIES = "probabilities";
const EXPORT_FILE = /^export-[0-9a-f]{16}\.tfjs\.tar\.gz$/;
const UNKNOWN_RULE_NOTE =
  "not included: the open-set `unknown` rule of /predict (class statistics of the features and a threshold) is not part of this model";
const INT8_NOTE =
  "float32: the backbone runs int8-quantized on ONNX Runtime for /predict; TF.js has no such quantization, so this model carries the backbone's float weights and its probabilities may differ slightly from /predict";

const unsupported = (reason: string) => exportUnsupported("TF.js", reason);

const sha256 = (...parts: (string | Uint8Array)[]) => {
  const hash = createHash("sha256");
  for (const p of parts) hash.update(p);
  return hash.digest("hex");
};

/** Options of {@link buildTfjsModel}. */
export interface TfjsBuildOptions {
  /** Layer whose (flattened, channels-last) output holds the features. */
  featureOutput: string;
  /** Layers whose outputs are global-average-pooled and appended, in this order, after the features. */
  pooledLayers?: string[];
  head: DenseHead;
  /** Stored as the model's `userDefinedMetadata`. */
  metadata: Record<string, unknown>;
  /** Name of the built model. */
  name: string;
}

/** A TF.js layers model as the two files of its folder. */
export interface TfjsModelFiles {
  /** `model.json` (topology, weights manifest naming `weights.bin`, `userDefinedMetadata`). */
  modelJson: string;
  weightsBin: Uint8Array;
}

/**
 * Builds one TF.js layers model from a backbone (its artifacts) and a dense head: the backbone's input through
 * its feature layer (flattened channels-last; the global average pools of `pooledLayers` concatenated after it,
 * as the Keras-to-ONNX compiler assembles them), then Dense(relu) and Dense(softmax) named
 * {@link TFJS_PROBABILITIES} with the head's folded weights. Initialize TF.js with `initTfjs()` first.
 *
 * @returns `model.json` and `weights.bin` of the model (TF.js layers format).
 */
export async function buildTfjsModel(
  artifacts: tf.io.ModelArtifacts,
  options: TfjsBuildOptions,
): Promise<TfjsModelFiles> {
  const { head } = options;
  const backbone = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  let fused: tf.LayersModel | undefined;
  try {
    if (backbone.inputs.length !== 1)
      throw unsupported(`the backbone has ${backbone.inputs.length} inputs, not 1`);
    const names = new Set(backbone.layers.map((l) => l.name));
    if (names.has(TFJS_PROBABILITIES))
      throw unsupported(`the backbone already has a layer '${TFJS_PROBABILITIES}'`);
    names.add(TFJS_PROBABILITIES);
    const fresh = uniqueNamer(names);
    const output = (name: string): tf.SymbolicTensor => {
      const layer = backbone.layers.find((l) => l.name === name);
      if (!layer) throw unsupported(`the backbone has no layer '${name}'`);
      const out = layer.output;
      if (Array.isArray(out)) throw unsupported(`layer '${name}' has ${out.length} outputs`);
      return out;
    };
    let features = output(options.featureOutput);
    if (features.shape.length !== 2) {
      features = tf.layers.flatten({ name: fresh("export_features") }).apply(features) as tf.SymbolicTensor;
    }
    const pooled = (options.pooledLayers ?? []).map((name) => {
      const x = output(name);
      if (x.shape.length !== 4) throw unsupported(`cannot pool layer '${name}': rank-${x.shape.length}`);
      return tf.layers
        .globalAveragePooling2d({ dataFormat: "channelsLast", name: fresh(`${name}_pooled`) })
        .apply(x) as tf.SymbolicTensor;
    });
    if (pooled.length > 0) {
      features = tf.layers
        .concatenate({ axis: -1, name: fresh("export_concat") })
        .apply([features, ...pooled]) as tf.SymbolicTensor;
    }
    const dim = features.shape[1];
    if (dim !== head.inputDim)
      throw unsupported(`the backbone's features have ${dim} values, the head takes ${head.inputDim}`);
    const hiddenLayer = tf.layers.dense({
      units: head.hiddenUnits,
      activation: "relu",
      name: fresh("head_hidden"),
    });
    const outLayer = tf.layers.dense({
      units: head.classes,
      activation: "softmax",
      name: TFJS_PROBABILITIES,
    });
    const probabilities = outLayer.apply(hiddenLayer.apply(features)) as tf.SymbolicTensor;
    fused = tf.model({ inputs: backbone.inputs, outputs: probabilities, name: options.name });
    const { inputDim: d, hiddenUnits: h, classes: c } = head;
    const weights = [
      tf.tensor2d(head.w1, [d, h]),
      tf.tensor1d(head.b1),
      tf.tensor2d(head.w2, [h, c]),
      tf.tensor1d(head.b2),
    ];
    try {
      hiddenLayer.setWeights(weights.slice(0, 2));
      outLayer.setWeights(weights.slice(2));
    } finally {
      tf.dispose(weights);
    }
    fused.setUserDefinedMetadata(options.metadata);
    let files: TfjsModelFiles | undefined;
    await fused.save(
      tf.io.withSaveHandler(async (saved) => {
        const weightData = tf.io.CompositeArrayBuffer.join(saved.weightData);
        const modelJson = JSON.stringify({
          format: saved.format,
          generatedBy: saved.generatedBy,
          convertedBy: null,
          modelTopology: saved.modelTopology,
          weightsManifest: [{ paths: ["weights.bin"], weights: saved.weightSpecs }],
          userDefinedMetadata: saved.userDefinedMetadata,
        });
        files = { modelJson, weightsBin: new Uint8Array(weightData) };
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(saved) };
      }),
    );
    if (!files) throw new Error("TF.js did not save the model");
    return files;
  } finally {
    // The fused model shares the backbone's layers (each counted once): every layer of either, once.
    for (const layer of new Set([...backbone.layers, ...(fused?.layers ?? [])])) layer.dispose();
  }
}

/**
 * Builds a model's TF.js export ({@link buildTfjsModel}, packed as a `.tar.gz` of `model.json` and
 * `weights.bin`) once: cached in the model's folder under a name keyed by the backbone's weights, and
 * concurrent requests share one build.
 */
export class TfjsExporter {
  private readonly building = new Map<string, Promise<string>>();
  /** The hash of each backbone's TF.js artifacts (as the registry computes it), once per process. */
  private readonly hashes = new Map<string, string>();

  constructor(private readonly options: ExporterOptions) {}

  /**
   * The path of the model's TF.js archive, built when missing. A 422 `EXPORT_UNSUPPORTED` when the backbone
   * is not a TF.js layers model (ONNX, tfjs-graph) or its layers cannot take the head.
   */
  async file(model: ModelManifest): Promise<string> {
    const manifest = await this.options.registry.manifest(model.backbone);
    if (manifest.format !== "tfjs-layers") {
      throw unsupported(
        `backbone '${model.backbone}' is of format ${manifest.format}; only tfjs-layers backbones export to TF.js`,
      );
    }
    const known = this.hashes.get(manifest.id);
    if (known) {
      const file = this.fileName(model, known);
      if (await exists(file)) return file;
    }
    const { artifacts, hash } = await this.options.registry.tfjsArtifacts(manifest.id);
    this.hashes.set(manifest.id, hash);
    const file = this.fileName(model, hash);
    if (await exists(file)) return file;
    let p = this.building.get(file);
    if (!p) {
      p = this.build(model, manifest, artifacts, hash, file).finally(() => this.building.delete(file));
      this.building.set(file, p);
    }
    return p;
  }

  private fileName(model: ModelManifest, hash: string): string {
    return path.join(
      this.options.models.dir(model.id),
      `export-${sha256(TFJS_EXPORT_VERSION, hash).slice(0, 16)}.tfjs.tar.gz`,
    );
  }

  private async build(
    model: ModelManifest,
    manifest: BackboneManifest,
    artifacts: tf.io.ModelArtifacts,
    hash: string,
    file: string,
  ): Promise<string> {
    const dir = this.options.models.dir(model.id);
    const int8 = manifest.quantize === "int8";
    // The model's backboneHash of an int8 backbone also covers its quantization: comparable only for float ones.
    if (!int8 && hash !== model.backboneHash) {
      this.options.warn?.("backbone weights differ from training: exporting the current ones", model.id);
    }
    const head = await readDenseHead(dir);
    if (head.inputDim !== model.featureDim || head.classes !== model.classes.length) {
      throw new Error(
        `model ${model.id}: the head takes ${head.inputDim} features to ${head.classes} classes, the manifest says ${model.featureDim} to ${model.classes.length}`,
      );
    }
    await initTfjs();
    const files = await buildTfjsModel(artifacts, {
      featureOutput: manifest.featureOutput,
      pooledLayers: manifest.pooledLayers,
      head,
      name: model.id,
      metadata: {
        classes: model.classes,
        preprocessing: model.preprocessing,
        modelId: model.id,
        backbone: model.backbone,
        backboneHash: hash,
        weights: int8 ? INT8_NOTE : "float32",
        output: `${TFJS_PROBABILITIES}: calibrated class probabilities [N, C] in the order of classes`,
        producer: `transfer-learning-server ${TFJS_EXPORT_VERSION}`,
        unknownRule: UNKNOWN_RULE_NOTE,
      },
    });
    await this.options.models.get(model.id); // a model deleted meanwhile: 404, and no folder written again
    const staging = await mkdtemp(path.join(os.tmpdir(), "tfjs-export-"));
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      await writeFile(path.join(staging, "model.json"), files.modelJson);
      await writeFile(path.join(staging, "weights.bin"), files.weightsBin);
      await createTar({ gzip: true, portable: true, cwd: staging, file: tmp }, ["model.json", "weights.bin"]);
      await rename(tmp, file);
    } finally {
      await rm(tmp, { force: true });
      await rm(staging, { recursive: true, force: true });
    }
    await removeStaleExports(file, EXPORT_FILE);
    return file;
  }
}
