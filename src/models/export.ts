import { createHash } from "node:crypto";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { bytesOf } from "../backbones/keras-onnx/onnx-builder.js";
import type { BackboneOnnxFile, BackboneRegistry } from "../backbones/registry.js";
import { UnprocessableError } from "../errors.js";
import { writeFileAtomic } from "../lib/atomic.js";
import { uniqueNamer } from "../lib/names.js";
import type { ModelManifest } from "./schemas.js";
import type { ModelStore } from "./store.js";

const { onnx } = onnxProto;
const DTYPE = onnx.TensorProto.DataType;
const ATTR = onnx.AttributeProto.AttributeType;

/** Bumped whenever the exported file for the same model and backbone would change: part of its cache name. */
export const EXPORT_VERSION = "onnx-export-1";
/** The output of an exported model: calibrated class probabilities, `[N, classes]`. */
export const PROBABILITIES = "probabilities";
/** What the file leaves out of /predict. */
const UNKNOWN_RULE_NOTE =
  "not included: the open-set `unknown` rule of /predict (class statistics of the features and a threshold) is not part of this file";

/** A saved head's folded weights: probabilities = softmax(relu(x @ w1 + b1) @ w2 + b2) on raw features. */
export interface DenseHead {
  /** `[inputDim, hiddenUnits]`, row-major. */
  w1: Float32Array;
  b1: Float32Array;
  /** `[hiddenUnits, classes]`, row-major. */
  w2: Float32Array;
  b2: Float32Array;
  inputDim: number;
  hiddenUnits: number;
  classes: number;
}

/**
 * Reads the head a model folder holds (`model.json` + weights, TF.js layers format, written by training with
 * feature standardization and temperature folded in): kernel, bias, kernel, bias, float32.
 */
export async function readDenseHead(dir: string): Promise<DenseHead> {
  const json = JSON.parse(await readFile(path.join(dir, "model.json"), "utf8")) as {
    weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
  };
  const groups = json.weightsManifest;
  const files = groups.flatMap((g) => g.paths).map((p) => path.join(dir, path.basename(p)));
  const data = Buffer.concat(await Promise.all(files.map((f) => readFile(f))));
  const specs = groups.flatMap((g) => g.weights);
  if (specs.length !== 4) throw new Error(`head of ${dir}: expected 4 weight tensors, found ${specs.length}`);
  let offset = 0;
  const arrays = specs.map((spec) => {
    if (spec.dtype !== "float32" || "quantization" in spec)
      throw new Error(`head of ${dir}: unsupported weight ${spec.name}`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (offset + size * 4 > data.length) throw new Error(`head of ${dir}: weights are too short`);
    const array = new Float32Array(size);
    new Uint8Array(array.buffer).set(data.subarray(offset, offset + size * 4));
    offset += size * 4;
    return array;
  });
  const [s1, sb1, s2, sb2] = specs.map((s) => s.shape);
  const [inputDim, hiddenUnits] = s1;
  const classes = s2[1];
  if (
    s1.length !== 2 ||
    s2.length !== 2 ||
    sb1.length !== 1 ||
    sb2.length !== 1 ||
    sb1[0] !== hiddenUnits ||
    s2[0] !== hiddenUnits ||
    sb2[0] !== classes
  ) {
    throw new Error(`head of ${dir}: inconsistent shapes ${JSON.stringify([s1, sb1, s2, sb2])}`);
  }
  const [w1, b1, w2, b2] = arrays;
  return { w1, b1, w2, b2, inputDim, hiddenUnits, classes };
}

/** Options of {@link fuseBackboneAndHead}. */
export interface FuseOptions {
  /** The backbone output holding the features (`[N, inputDim]`, or any shape that flattens to it). */
  featureOutput: string;
  /** The image input; the first graph input that is not an initializer when absent. */
  inputName?: string;
  head: DenseHead;
  /** Stored in `metadata_props` (replacing entries of the backbone with the same keys). */
  metadata: Record<string, string>;
  /** Name of the fused graph. */
  graphName: string;
  docString?: string;
}

type Long = { toNumber(): number };
const num = (v: number | Long | null | undefined): number =>
  typeof v === "object" && v !== null ? v.toNumber() : Number(v ?? 0);

/** The 422 of a model that cannot be exported to `format`, with the reason. */
export function exportUnsupported(format: "ONNX" | "TF.js", reason: string): UnprocessableError {
  return new UnprocessableError(`cannot export to ${format}: ${reason}`, "EXPORT_UNSUPPORTED");
}

const unsupported = (reason: string) => exportUnsupported("ONNX", reason);

/** Every value and node name a graph (and its subgraphs) uses. */
function namesOf(graph: OnnxTypes.IGraphProto, into = new Set<string>()): Set<string> {
  const add = (n: string | null | undefined) => n && into.add(n);
  for (const t of graph.initializer ?? []) add(t.name);
  for (const t of graph.sparseInitializer ?? []) add(t.values?.name);
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) add(v.name);
  for (const node of graph.node ?? []) {
    add(node.name);
    for (const n of [...(node.input ?? []), ...(node.output ?? [])]) add(n);
    for (const a of node.attribute ?? []) {
      if (a.g) namesOf(a.g, into);
      for (const g of a.graphs ?? []) namesOf(g, into);
    }
  }
  return into;
}

/**
 * Fuses a backbone (a serialized ONNX ModelProto) and a dense head into one model: the backbone's inputs,
 * then `Gemm, Relu, Gemm, Softmax(axis 1)` on its feature output, with the single output
 * {@link PROBABILITIES} `[N, classes]` (the batch dim symbolic). The backbone's opset and IR version are
 * kept (opset 7 or later is needed; Softmax on a 2-D tensor along axis 1 means the same before and after
 * opset 13); `metadata` goes into `metadata_props`.
 *
 * @returns the fused model (ONNX bytes).
 */
export function fuseBackboneAndHead(backbone: Uint8Array, options: FuseOptions): Uint8Array {
  const { head } = options;
  const model = onnx.ModelProto.decode(backbone);
  const graph = model.graph;
  if (!graph) throw unsupported("the backbone model has no graph");
  const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx");
  const opsetVersion = num(opset?.version);
  if (opsetVersion < 7)
    throw unsupported(`the backbone's default-domain opset is ${opsetVersion}, 7 or later is needed`);
  const irVersion = num(model.irVersion);

  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const imageInputs = (graph.input ?? []).filter((v) => !initializers.has(v.name));
  const image = options.inputName ? imageInputs.find((v) => v.name === options.inputName) : imageInputs[0];
  if (!image) throw unsupported(`the backbone has no input ${options.inputName ?? ""}`.trim());
  const features = (graph.output ?? []).find((v) => v.name === options.featureOutput);
  if (!features) throw unsupported(`the backbone has no output '${options.featureOutput}'`);
  const tensorType = features.type?.tensorType;
  // Decoded messages read 0 (UNDEFINED) for an element type, and 0 for a dim value, that the file leaves out.
  if (tensorType?.elemType && tensorType.elemType !== DTYPE.FLOAT)
    throw unsupported(`the backbone's features are not float32 (ONNX type ${tensorType.elemType})`);
  const featureDims = tensorType?.shape?.dim ?? [];
  const last = featureDims.length === 2 && !featureDims[1].dimParam ? num(featureDims[1].dimValue) : 0;
  if (last > 0 && last !== head.inputDim) {
    throw unsupported(`the backbone's features have ${last} values, the head takes ${head.inputDim}`);
  }

  const used = namesOf(graph);
  if (used.has(PROBABILITIES)) throw unsupported(`the backbone already uses the name '${PROBABILITIES}'`);
  used.add(PROBABILITIES);
  const fresh = uniqueNamer(used);
  const newInitializers: OnnxTypes.ITensorProto[] = [];
  const floatConst = (base: string, data: Float32Array, dims: number[]) => {
    const name = fresh(base);
    newInitializers.push({ name, dims, dataType: DTYPE.FLOAT, rawData: bytesOf(data) });
    return name;
  };
  const newNodes: OnnxTypes.INodeProto[] = [];
  const node = (
    op: string,
    inputs: string[],
    output: string,
    attribute: OnnxTypes.IAttributeProto[] = [],
  ) => {
    newNodes.push({ opType: op, input: inputs, output: [output], name: fresh(`head/${op}`), attribute });
    return output;
  };
  const { inputDim: d, hiddenUnits: h, classes: c } = head;
  const w1 = floatConst("head/w1", head.w1, [d, h]);
  const b1 = floatConst("head/b1", head.b1, [h]);
  const w2 = floatConst("head/w2", head.w2, [h, c]);
  const b2 = floatConst("head/b2", head.b2, [c]);
  let x = options.featureOutput;
  if (featureDims.length !== 2) {
    x = node("Flatten", [x], fresh("head/features"), [{ name: "axis", type: ATTR.INT, i: 1 }]);
  }
  const hidden = node("Relu", [node("Gemm", [x, w1, b1], fresh("head/z1"))], fresh("head/hidden"));
  const logits = node("Gemm", [hidden, w2, b2], fresh("head/logits"));
  node("Softmax", [logits], PROBABILITIES, [{ name: "axis", type: ATTR.INT, i: 1 }]);

  const batch = image.type?.tensorType?.shape?.dim?.[0]?.dimParam || "N";
  const output: OnnxTypes.IValueInfoProto = {
    name: PROBABILITIES,
    docString: "Calibrated class probabilities, in the order of the `classes` metadata",
    type: { tensorType: { elemType: DTYPE.FLOAT, shape: { dim: [{ dimParam: batch }, { dimValue: c }] } } },
  };
  graph.node = [...(graph.node ?? []), ...newNodes];
  graph.initializer = [...(graph.initializer ?? []), ...newInitializers];
  if (irVersion < 4) {
    // Before IR 4, every initializer is also a graph input.
    graph.input = [
      ...(graph.input ?? []),
      ...newInitializers.map((t) => ({
        name: t.name,
        type: {
          tensorType: { elemType: DTYPE.FLOAT, shape: { dim: (t.dims ?? []).map((v) => ({ dimValue: v })) } },
        },
      })),
    ];
  }
  graph.output = [output];
  graph.name = options.graphName;
  const keys = new Set(Object.keys(options.metadata));
  model.metadataProps = [
    ...(model.metadataProps ?? []).filter((p) => !keys.has(p.key ?? "")),
    ...Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
  ];
  if (options.docString !== undefined) model.docString = options.docString;
  return onnx.ModelProto.encode(model).finish();
}

/** Options of {@link OnnxExporter}. */
export interface ExporterOptions {
  models: ModelStore;
  registry: BackboneRegistry;
  /** Called when the backbone's weights differ from those the model was trained with. */
  warn?: (msg: string, modelId: string) => void;
}

const sha256 = (...parts: string[]) => {
  const hash = createHash("sha256");
  for (const p of parts) hash.update(p);
  return hash.digest("hex");
};
const EXPORT_FILE = /^export-[0-9a-f]{16}\.onnx$/;

/**
 * Builds a model's ONNX export (backbone + head, {@link fuseBackboneAndHead}) once: the file is cached in the
 * model's folder under a name keyed by the backbone's hash, and concurrent requests share one build.
 */
export class OnnxExporter {
  private readonly building = new Map<string, Promise<string>>();

  constructor(private readonly options: ExporterOptions) {}

  /**
   * The path of the model's export, built when missing. A 422 `EXPORT_UNSUPPORTED` when the backbone does
   * not run on ONNX Runtime (tfjs-graph, or compileToOnnx false) or its graph cannot take the head.
   */
  async file(model: ModelManifest): Promise<string> {
    const backbone = await this.options.registry.onnxFile(model.backbone);
    if (!backbone) {
      throw unsupported(
        `backbone '${model.backbone}' runs on TF.js (format tfjs-graph, or compileToOnnx false), not on ONNX Runtime`,
      );
    }
    const file = path.join(
      this.options.models.dir(model.id),
      `export-${sha256(EXPORT_VERSION, backbone.hash).slice(0, 16)}.onnx`,
    );
    if (await exists(file)) return file;
    let p = this.building.get(file);
    if (!p) {
      p = this.build(model, backbone, file).finally(() => this.building.delete(file));
      this.building.set(file, p);
    }
    return p;
  }

  private async build(model: ModelManifest, backbone: BackboneOnnxFile, file: string): Promise<string> {
    const dir = this.options.models.dir(model.id);
    if (backbone.hash !== model.backboneHash) {
      this.options.warn?.("backbone weights differ from training: exporting the current ones", model.id);
    }
    const [bytes, head] = await Promise.all([readFile(backbone.file), readDenseHead(dir)]);
    if (head.inputDim !== model.featureDim || head.classes !== model.classes.length) {
      throw new Error(
        `model ${model.id}: the head takes ${head.inputDim} features to ${head.classes} classes, the manifest says ${model.featureDim} to ${model.classes.length}`,
      );
    }
    const fused = fuseBackboneAndHead(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      featureOutput: backbone.outputName,
      inputName: backbone.inputName,
      head,
      graphName: model.id,
      docString:
        `Model ${model.id}: backbone ${model.backbone} and its classifier head. Input: the preprocessed image ` +
        "tensor (see the `preprocessing` metadata); output `probabilities` [N, C]: calibrated class " +
        "probabilities in the order of the `classes` metadata. The open-set `unknown` rule of /predict is " +
        "not part of this file.",
      metadata: {
        classes: JSON.stringify(model.classes),
        preprocessing: JSON.stringify(model.preprocessing),
        modelId: model.id,
        backbone: model.backbone,
        backboneHash: backbone.hash,
        producer: `transfer-learning-server ${EXPORT_VERSION}`,
        unknownRule: UNKNOWN_RULE_NOTE,
      },
    });
    await this.options.models.get(model.id); // a model deleted meanwhile: 404, and no folder written again
    await writeFileAtomic(file, fused);
    await removeStaleExports(file, EXPORT_FILE);
    return file;
  }
}

/** Removes the exports beside `file` whose names match `pattern` (built for other backbone weights). */
export async function removeStaleExports(file: string, pattern: RegExp): Promise<void> {
  const dir = path.dirname(file);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (pattern.test(name) && name !== path.basename(file)) await rm(path.join(dir, name), { force: true });
  }
}

/** Whether `file` exists. */
export async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
