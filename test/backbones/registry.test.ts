import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import onnxProto from "onnx-proto";
import { compileKerasToOnnx } from "../../src/backbones/keras-onnx/compile.js";
import { BackboneRegistry, type RegistryOptions } from "../../src/backbones/registry.js";
import { AppError } from "../../src/errors.js";
import { initTfjs, tf } from "../../src/lib/tfjs.js";
import { cosine } from "../helpers/vectors.js";

const { onnx } = onnxProto;

const prep = {
  inputSize: 16,
  resizeShorter: 18,
  layout: "NHWC",
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
};

function tinyModel(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: "relu", name: "conv" }).apply(input);
  const pooled = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(conv) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, name: "logits" }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

async function saveTfjs(model: tf.LayersModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      await writeFile(path.join(dir, "weights.bin"), Buffer.from(a.weightData as ArrayBuffer));
      const json = {
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: ["weights.bin"], weights: a.weightSpecs }],
      };
      await writeFile(path.join(dir, "model.json"), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
}

describe("BackboneRegistry", () => {
  let dir: string;
  let registry: BackboneRegistry;
  const logs: string[] = [];
  const make = (extra: Partial<RegistryOptions> = {}) =>
    new BackboneRegistry({
      backbonesDir: path.join(dir, "backbones"),
      cacheDir: path.join(dir, "cache"),
      defaultId: "mobilenet_v2",
      runtime: { executionProvider: "auto", threads: 1, log: (_l, m) => logs.push(m) },
      log: (_l, m) => logs.push(m),
      ...extra,
    });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "registry-"));
    await initTfjs();
    const model = tinyModel();
    const b = path.join(dir, "backbones");
    const { onnx } = compileKerasToOnnx(model, { outputLayer: "pool" });
    const base = { preprocessing: prep, featureOutput: "pool", featureDim: 4 };
    const manifest = async (folder: string, m: Record<string, unknown>) => {
      await mkdir(path.join(b, folder), { recursive: true });
      await writeFile(path.join(b, folder, "manifest.json"), JSON.stringify({ ...base, ...m }));
    };
    await manifest("tiny-onnx", {
      id: "tiny_onnx",
      format: "onnx",
      model: "model.onnx",
      featureOutput: "features",
    });
    await writeFile(path.join(b, "tiny-onnx", "model.onnx"), onnx);
    await saveTfjs(model, path.join(b, "tiny-tfjs"));
    await manifest("tiny-tfjs", { id: "tiny_tfjs", format: "tfjs-layers", model: "model.json" });
    await saveTfjs(model, path.join(b, "tiny-wasm"));
    const wasm = { format: "tfjs-layers", model: "model.json", compileToOnnx: false };
    await manifest("tiny-wasm", { id: "tiny_wasm", ...wasm });
    await manifest("tiny_int8", {
      id: "tiny_int8",
      quantize: "int8",
      format: "onnx",
      model: "../tiny-onnx/model.onnx",
      featureOutput: "features",
    });
    await manifest("wasm_int8", {
      id: "wasm_int8",
      quantize: "int8",
      ...wasm,
      model: "../tiny-wasm/model.json",
    });
    await mkdir(path.join(b, "broken"), { recursive: true });
    await writeFile(
      path.join(b, "broken", "manifest.json"),
      JSON.stringify({ id: "broken", format: "pytorch" }),
    );
    model.dispose();
    registry = make();
  });

  after(async () => {
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("lists built-in and user backbones, default first, and skips an invalid manifest with a log line", async () => {
    const list = await registry.list();
    assert.equal(list[0].id, "mobilenet_v2");
    assert.equal(list[0].default, true);
    assert.equal(list[0].featureDim, 3856);
    assert.deepEqual(list.map((b) => b.id).sort(), [
      "inception_v3",
      "mobilenet_v2",
      "mobilenet_v2_int8",
      "tiny_int8",
      "tiny_onnx",
      "tiny_tfjs",
      "tiny_wasm",
      "wasm_int8",
    ]);
    assert.equal(list.find((b) => b.id === "tiny_wasm")?.runtime, "tfjs-wasm");
    assert.equal(list.find((b) => b.id === "tiny_onnx")?.runtime, "onnxruntime-cpu");
    assert.ok(logs.some((l) => l.includes("skipping backbone") && l.includes("broken")));
  });

  it("rejects an unknown backbone with a 422 naming the known ones", async () => {
    await assert.rejects(registry.load("resnet9000"), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.statusCode, 422);
      assert.match(err.message, /mobilenet_v2/);
      return true;
    });
  });

  it("runs the same user model as ONNX, as compiled TF.js layers, and on TF.js itself, with the same features", async () => {
    const x = new Float32Array(2 * 16 * 16 * 3).map((_, i) => ((i * 7919) % 255) / 255);
    const outs = [];
    for (const id of ["tiny_onnx", "tiny_tfjs", "tiny_wasm"]) {
      const bb = await registry.load(id);
      assert.equal(bb.session.runtime, id === "tiny_wasm" ? "tfjs-wasm" : "onnxruntime-cpu");
      outs.push(await bb.session.run(x, 2));
    }
    for (const o of outs) assert.equal(o.length, 8);
    for (let i = 0; i < 8; i++) {
      assert.ok(Math.abs(outs[0][i] - outs[1][i]) < 1e-5);
      assert.ok(Math.abs(outs[0][i] - outs[2][i]) < 1e-4);
    }
  });

  it("compiles a TF.js backbone to ONNX once and reuses the cached file in a new process", async () => {
    const before = (await readdir(path.join(dir, "cache", "backbones"))).filter((f) => f.endsWith(".onnx"));
    assert.ok(before.some((f) => f.startsWith("tiny_tfjs-")));
    const compiles = logs.filter((l) => l.startsWith("compiled backbone tiny_tfjs")).length;
    const second = make();
    const bb = await second.load("tiny_tfjs");
    assert.equal(bb.hash, (await registry.load("tiny_tfjs")).hash);
    assert.equal(logs.filter((l) => l.startsWith("compiled backbone tiny_tfjs")).length, compiles);
    await second.close();
  });

  it("quantizes an ONNX backbone to int8 once, with its own hash and features close to the float ones", async () => {
    const x = new Float32Array(4 * 16 * 16 * 3).map((_, i) => ((i * 7919) % 255) / 255);
    const float = await registry.load("tiny_onnx");
    const int8 = await registry.load("tiny_int8");
    assert.notEqual(int8.hash, float.hash);
    const a = await float.session.run(x, 4);
    const q = await int8.session.run(x, 4);
    assert.equal(q.length, a.length);
    assert.ok(cosine(a, q) > 0.98, `cosine ${cosine(a, q)}`);
    assert.ok(
      a.some((v, i) => v !== q[i]),
      "int8 features identical to float ones",
    );
    const files = await readdir(path.join(dir, "cache", "backbones"));
    assert.ok(
      files.some((f) => f.startsWith("tiny_int8-") && f.endsWith("-int8.onnx")),
      files.join(","),
    );
    const quantizations = () => logs.filter((l) => l.startsWith("quantized backbone tiny_int8")).length;
    assert.equal(quantizations(), 1);
    const second = make();
    assert.equal((await second.load("tiny_int8")).hash, int8.hash);
    assert.equal(quantizations(), 1);
    await second.close();
  });

  it("quantizes with the weight bits asked for, each under its own hash and cached file", async () => {
    const x = new Float32Array(2 * 16 * 16 * 3).map((_, i) => ((i * 104729) % 255) / 255);
    const a = await (await registry.load("tiny_onnx")).session.run(x, 2);
    const loaded = new Map<number, { hash: string; features: Float32Array; file: string }>();
    for (const bits of [7, 8] as const) {
      const r = make({ int8WeightBits: bits });
      const bb = await r.load("tiny_int8");
      const file = (await readdir(path.join(dir, "cache", "backbones"))).find(
        (f) => f.startsWith(`tiny_int8-${bb.hash.slice(0, 16)}`) && f.endsWith("-int8.onnx"),
      );
      assert.ok(file, `no cached file for ${bits}-bit weights`);
      loaded.set(bits, { hash: bb.hash, features: await bb.session.run(x, 2), file });
      await r.close();
    }
    const [w7, w8] = [loaded.get(7), loaded.get(8)];
    assert.ok(w7 && w8);
    assert.notEqual(w7.hash, w8.hash);
    assert.notEqual(w7.file, w8.file);
    assert.ok(logs.some((l) => l.startsWith("quantized backbone tiny_int8") && l.includes("7-bit weights")));
    const largest = async (file: string) => {
      const m = onnx.ModelProto.decode(await readFile(path.join(dir, "cache", "backbones", file)));
      const weights = (m.graph?.initializer ?? []).filter((t) => t.name?.endsWith("/weight_int8"));
      assert.ok(weights.length > 0);
      return Math.max(...weights.flatMap((t) => [...new Int8Array(t.rawData ?? [])].map(Math.abs)));
    };
    assert.equal(await largest(w7.file), 63);
    assert.equal(await largest(w8.file), 127);
    for (const { features } of [w7, w8])
      assert.ok(cosine(a, features) > 0.98, `cosine ${cosine(a, features)}`);
    assert.ok(w7.features.some((v, i) => v !== w8.features[i]));
  });

  it("refuses to quantize a backbone that runs on TF.js", async () => {
    await assert.rejects(registry.load("wasm_int8"), /quantize needs an onnx or compiled tfjs-layers model/);
  });
});
