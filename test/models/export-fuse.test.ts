/**
 * The fusing function on small real ONNX backbones that the built-in one does not cover: an old opset
 * (Softmax before opset 13) with 4-D features that need flattening and a second output that must go, an IR 3
 * model (initializers are also graph inputs), and its refusals (opset before 7, a missing feature output, a
 * TF.js backbone). Each fused file passes ONNX's checker and gives, under ONNX Runtime, the head's
 * probabilities on the backbone's own features. The TF.js export on a small layers model with pooled layers
 * (probabilities of the head on the features as the ONNX compiler assembles them), and its refusals (no such
 * layer, features of another size, backbones that are not tfjs-layers).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import * as ort from "onnxruntime-node";
import { BackboneRegistry } from "../../src/backbones/registry.js";
import { UnprocessableError } from "../../src/errors.js";
import { Rng } from "../../src/lib/rng.js";
import { initTfjs, tf } from "../../src/lib/tfjs.js";
import { type DenseHead, fuseBackboneAndHead, OnnxExporter } from "../../src/models/export.js";
import { buildTfjsModel, TfjsExporter } from "../../src/models/export-tfjs.js";
import type { ModelManifest } from "../../src/models/schemas.js";
import { ModelStore } from "../../src/models/store.js";
import { DenseHeadPredictor } from "../../src/training/head-predictor.js";

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT = onnx.AttributeProto.AttributeType.INT;
const INTS = onnx.AttributeProto.AttributeType.INTS;
const run = promisify(execFile);

const tensorType = (dims: (number | string)[]) => ({
  tensorType: {
    elemType: FLOAT,
    shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
  },
});

/**
 * A backbone taking `image [batch,3,2,2]`: features `feat [batch,3,1,1]` = the spatial mean of `image * 2`,
 * plus an output `other` that the fused model must drop.
 */
function tinyBackbone(irVersion: number, opset: number): Uint8Array {
  const scale: OnnxTypes.ITensorProto = {
    name: "scale",
    dims: [1],
    dataType: FLOAT,
    floatData: [2],
  };
  const model: OnnxTypes.IModelProto = {
    irVersion,
    opsetImport: [{ domain: "", version: opset }],
    producerName: "test",
    metadataProps: [{ key: "classes", value: "stale" }],
    graph: {
      name: "tiny",
      node: [
        { opType: "Mul", input: ["image", "scale"], output: ["scaled"], name: "mul" },
        {
          opType: "ReduceMean",
          input: ["scaled"],
          output: ["feat"],
          name: "mean",
          attribute: [
            { name: "axes", type: INTS, ints: [2, 3] },
            { name: "keepdims", type: INT, i: 1 },
          ],
        },
        { opType: "Relu", input: ["scaled"], output: ["other"], name: "other" },
      ],
      initializer: [scale],
      input: [
        { name: "image", type: tensorType(["batch", 3, 2, 2]) },
        ...(irVersion < 4 ? [{ name: "scale", type: tensorType([1]) }] : []),
      ],
      output: [
        { name: "feat", type: tensorType(["batch", 3, 1, 1]) },
        { name: "other", type: tensorType(["batch", 3, 2, 2]) },
      ],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

function randomHead(rng: Rng, d: number, h: number, c: number): DenseHead {
  const r = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
  return { w1: r(d * h), b1: r(h), w2: r(h * c), b2: r(c), inputDim: d, hiddenUnits: h, classes: c };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "export-fuse-"));
});
after(() => rm(dir, { recursive: true, force: true }));

describe("fuseBackboneAndHead", () => {
  for (const [ir, opset] of [
    [6, 11],
    [3, 8],
  ]) {
    it(`IR ${ir}, opset ${opset}: checker-valid, probabilities of the head on the backbone's features`, {
      timeout: 60_000,
    }, async () => {
      const rng = new Rng(ir * 100 + opset);
      const head = randomHead(rng, 3, 5, 4);
      const backbone = tinyBackbone(ir, opset);
      const fused = fuseBackboneAndHead(backbone, {
        featureOutput: "feat",
        head,
        graphName: "fused",
        metadata: { classes: '["a","b","c","d"]', modelId: "mdl_x" },
        docString: "test",
      });
      const file = path.join(dir, `fused-${ir}-${opset}.onnx`);
      await writeFile(file, fused);
      await run("/usr/bin/python3", [
        "-c",
        "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)",
        file,
      ]);

      const model = onnx.ModelProto.decode(fused);
      assert.equal(Number(model.irVersion), ir);
      assert.deepEqual(
        model.opsetImport.map((o) => [o.domain, Number(o.version)]),
        [["", opset]],
      );
      assert.deepEqual(
        model.graph?.output?.map((o) => o.name),
        ["probabilities"],
      );
      const dims = model.graph?.output?.[0].type?.tensorType?.shape?.dim ?? [];
      assert.deepEqual(
        dims.map((d) => d.dimParam || Number(d.dimValue)),
        ["batch", 4],
      );
      assert.deepEqual(
        model.metadataProps.map((p) => [p.key, p.value]),
        [
          ["classes", '["a","b","c","d"]'],
          ["modelId", "mdl_x"],
        ],
        "the backbone's entry of the same key is replaced",
      );

      const n = 3;
      const image = Float32Array.from({ length: n * 12 }, () => rng.uniform(-1, 1));
      const features = new Float32Array(n * 3);
      for (let i = 0; i < n * 3; i++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) sum += image[i * 4 + k] * 2;
        features[i] = sum / 4;
      }
      const expected = new DenseHeadPredictor(head.w1, head.b1, head.w2, head.b2).predictProba(features, n);
      const session = await ort.InferenceSession.create(file);
      try {
        assert.deepEqual(session.outputNames, ["probabilities"]);
        const out = await session.run({ image: new ort.Tensor("float32", image, [n, 3, 2, 2]) });
        const probs = out.probabilities;
        assert.deepEqual(probs.dims, [n, 4]);
        const got = probs.data as Float32Array;
        for (let i = 0; i < expected.length; i++) {
          assert.ok(Math.abs(got[i] - expected[i]) < 1e-5, `probability ${i}: ${got[i]} vs ${expected[i]}`);
        }
      } finally {
        await session.release();
      }
    });
  }

  it("refuses an opset before 7, a missing feature output and features of another size; takes symbolic ones", () => {
    const head = randomHead(new Rng(1), 3, 2, 2);
    const fuse = (backbone: Uint8Array, featureOutput: string, h = head) =>
      fuseBackboneAndHead(backbone, { featureOutput, head: h, graphName: "g", metadata: {} });
    const unsupported = (err: unknown) =>
      err instanceof UnprocessableError && err.code === "EXPORT_UNSUPPORTED";
    assert.throws(() => fuse(tinyBackbone(3, 6), "feat"), unsupported);
    assert.throws(() => fuse(tinyBackbone(6, 11), "features"), unsupported);
    const flat = onnx.ModelProto.decode(tinyBackbone(6, 11));
    flat.graph!.output![0].type = tensorType(["batch", 3]);
    assert.throws(
      () => fuse(onnx.ModelProto.encode(flat).finish(), "feat", randomHead(new Rng(2), 4, 2, 2)),
      unsupported,
    );
    flat.graph!.output![0].type = tensorType(["batch", "features"]);
    const symbolic = fuse(onnx.ModelProto.encode(flat).finish(), "feat");
    assert.deepEqual(
      onnx.ModelProto.decode(symbolic).graph?.node?.map((n) => n.opType),
      ["Mul", "ReduceMean", "Relu", "Gemm", "Relu", "Gemm", "Softmax"],
      "2-D features of a symbolic size: taken as they are, no Flatten",
    );
  });
});

const PREPROCESSING = {
  inputSize: 8,
  resizeShorter: 8,
  layout: "NHWC",
  scale: 1,
  mean: [0, 0, 0],
  std: [1, 1, 1],
};

/** A registry of user backbones (one folder each, a manifest and no model file) in `dir/<name>`. */
async function registryOf(name: string, backbones: { id: string; format: string }[]) {
  const backbonesDir = path.join(dir, name);
  for (const b of backbones) {
    await mkdir(path.join(backbonesDir, b.id), { recursive: true });
    await writeFile(
      path.join(backbonesDir, b.id, "manifest.json"),
      JSON.stringify({
        ...b,
        model: b.format === "onnx" ? "model.onnx" : "model.json",
        preprocessing: PREPROCESSING,
        featureOutput: "out",
        featureDim: 4,
      }),
    );
  }
  return new BackboneRegistry({
    backbonesDir,
    cacheDir: path.join(dir, "cache"),
    defaultId: "mobilenet_v2",
    runtime: { executionProvider: "cpu", threads: 1 },
  });
}

describe("OnnxExporter", () => {
  it("answers 422 EXPORT_UNSUPPORTED for a backbone that runs on TF.js", async () => {
    const registry = await registryOf("backbones", [{ id: "graph_net", format: "tfjs-graph" }]);
    const exporter = new OnnxExporter({ models: new ModelStore(path.join(dir, "models")), registry });
    const model = { id: "mdl_graph", backbone: "graph_net" } as ModelManifest;
    await assert.rejects(
      exporter.file(model),
      (err: unknown) =>
        err instanceof UnprocessableError &&
        err.statusCode === 422 &&
        err.code === "EXPORT_UNSUPPORTED" &&
        /graph_net/.test(err.message),
    );
  });
});

describe("TF.js export", () => {
  /** A functional model on `[N, 4, 4, 2]`: conv `c1` [4,4,3], conv `c2` [2,2,5] (stride 2), `feat` = its flattening. */
  function tinyLayersModel(): tf.LayersModel {
    const input = tf.input({ shape: [4, 4, 2] });
    const c1 = tf.layers.conv2d({
      filters: 3,
      kernelSize: 3,
      padding: "same",
      activation: "relu",
      name: "c1",
    });
    const c2 = tf.layers.conv2d({ filters: 5, kernelSize: 2, strides: 2, name: "c2" });
    const h1 = c1.apply(input) as tf.SymbolicTensor;
    const h2 = c2.apply(h1) as tf.SymbolicTensor;
    const feat = tf.layers.flatten({ name: "feat" }).apply(h2) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2, name: "top" }).apply(feat) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  }

  async function artifactsOf(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
      }),
    );
    return artifacts!;
  }

  it("features, then the pooled layers in order, into the head: the head's probabilities", {
    timeout: 60_000,
  }, async () => {
    await initTfjs();
    const rng = new Rng(7);
    const backbone = tinyLayersModel();
    const artifacts = await artifactsOf(backbone);
    const head = randomHead(rng, 20 + 5 + 3, 6, 3);
    const files = await buildTfjsModel(artifacts, {
      featureOutput: "feat",
      pooledLayers: ["c2", "c1"],
      head,
      metadata: { classes: ["a", "b", "c"], modelId: "mdl_x" },
      name: "mdl_x",
    });
    const json = JSON.parse(files.modelJson);
    assert.deepEqual(json.userDefinedMetadata, { classes: ["a", "b", "c"], modelId: "mdl_x" });
    assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);
    const w = files.weightsBin;
    const exported = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer,
      }),
    );
    const n = 3;
    const image = tf.randomUniform([n, 4, 4, 2], -1, 1, "float32", 11);
    // The features as the ONNX compiler assembles them: the output layer's values, then each pooled layer's mean.
    const probe = tf.model({
      inputs: backbone.inputs,
      outputs: ["feat", "c2", "c1"].map((l) => backbone.getLayer(l).output as tf.SymbolicTensor),
    });
    const features = tf.tidy(() => {
      const [feat, c2, c1] = probe.predict(image) as tf.Tensor[];
      return tf.concat([feat, c2.mean([1, 2]), c1.mean([1, 2])], 1);
    });
    const expected = new DenseHeadPredictor(head.w1, head.b1, head.w2, head.b2).predictProba(
      (await features.data()) as Float32Array,
      n,
    );
    const got = (await (exported.predict(image) as tf.Tensor).data()) as Float32Array;
    assert.equal(got.length, n * 3);
    for (let i = 0; i < expected.length; i++) {
      assert.ok(Math.abs(got[i] - expected[i]) < 1e-5, `probability ${i}: ${got[i]} vs ${expected[i]}`);
    }
    exported.dispose();
    backbone.dispose();
  });

  it("refuses a missing layer and features of another size", async () => {
    await initTfjs();
    const artifacts = await artifactsOf(tinyLayersModel());
    const unsupported = (err: unknown) =>
      err instanceof UnprocessableError && err.code === "EXPORT_UNSUPPORTED";
    const build = (featureOutput: string, d: number) =>
      buildTfjsModel(artifacts, {
        featureOutput,
        head: randomHead(new Rng(1), d, 2, 2),
        metadata: {},
        name: "m",
      });
    await assert.rejects(build("nothere", 20), unsupported);
    await assert.rejects(build("feat", 21), unsupported);
  });

  it("answers 422 EXPORT_UNSUPPORTED for backbones that are not tfjs-layers", async () => {
    const registry = await registryOf("backbones-tfjs", [
      { id: "graph_net", format: "tfjs-graph" },
      { id: "onnx_net", format: "onnx" },
    ]);
    const exporter = new TfjsExporter({ models: new ModelStore(path.join(dir, "models")), registry });
    for (const backbone of ["graph_net", "onnx_net"]) {
      await assert.rejects(
        exporter.file({ id: "mdl_x", backbone } as ModelManifest),
        (err: unknown) =>
          err instanceof UnprocessableError &&
          err.statusCode === 422 &&
          err.code === "EXPORT_UNSUPPORTED" &&
          err.message.includes(backbone),
      );
    }
  });
});
