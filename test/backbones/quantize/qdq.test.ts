import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { compileKerasToOnnx } from "../../../src/backbones/keras-onnx/compile.js";
import { basicOptimized, calibrate } from "../../../src/backbones/quantize/calibrate.js";
import { activationParams, weightScales } from "../../../src/backbones/quantize/qdq.js";
import { quantizeBackbone } from "../../../src/backbones/quantize/quantize.js";
import { Rng } from "../../../src/lib/rng.js";
import { initTfjs, tf } from "../../../src/lib/tfjs.js";
import { on, randomizeWeights } from "../../helpers/keras.js";
import { cosine } from "../../helpers/vectors.js";

const L = tf.layers;
const SIZE = 16;
const prep = {
  inputSize: SIZE,
  resizeShorter: 18,
  layout: "NHWC" as const,
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
};

/** A MobileNetV2-like block: conv-bn-relu6, depthwise-bn-relu6, 1x1 projection, residual add, pooling. */
function invertedResidual(): tf.LayersModel {
  const x = tf.input({ shape: [SIZE, SIZE, 3] });
  const bnRelu6 = (t: tf.SymbolicTensor, name: string) =>
    on(L.reLU({ maxValue: 6, name: `${name}_relu` }), on(L.batchNormalization({ name: `${name}_bn` }), t));
  const stem = bnRelu6(on(L.conv2d({ name: "stem", filters: 8, kernelSize: 3, padding: "same" }), x), "stem");
  const dw = bnRelu6(on(L.depthwiseConv2d({ name: "dw", kernelSize: 3, padding: "same" }), stem), "dw");
  const project = on(L.conv2d({ name: "project", filters: 8, kernelSize: 1 }), dw);
  const sum = on(L.add({ name: "add" }), [stem, project]);
  const pooled = on(L.globalAveragePooling2d({ name: "pool" }), sum);
  const model = tf.model({ inputs: x, outputs: pooled });
  randomizeWeights(model, 11);
  return model;
}

function images(count: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () =>
    Float32Array.from({ length: SIZE * SIZE * 3 }, () => rng.next()),
  );
}

async function features(model: Uint8Array, inputs: Float32Array[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model);
  const data = new Float32Array(inputs.length * SIZE * SIZE * 3);
  for (const [i, img] of inputs.entries()) data.set(img, i * img.length);
  const out = await session.run({ input: new ort.Tensor("float32", data, [inputs.length, SIZE, SIZE, 3]) });
  await session.release();
  return Float32Array.from(out.features.data as Float32Array);
}

describe("int8 QDQ quantization", () => {
  let dir: string;
  let float: Uint8Array;

  before(async () => {
    await initTfjs();
    dir = await mkdtemp(path.join(os.tmpdir(), "qdq-"));
    float = compileKerasToOnnx(invertedResidual(), { outputLayer: "pool" }).onnx;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("picks uint8 activation parameters that keep zero exact and cover the range", () => {
    const a = activationParams({ min: -1, max: 3 });
    assert.ok(Math.abs(a.scale - 4 / 255) < 1e-12);
    assert.equal(a.zeroPoint, 64);
    const relu = activationParams({ min: 0.5, max: 6 });
    assert.equal(relu.zeroPoint, 0);
    assert.ok(Math.abs(relu.scale * 255 - 6) < 1e-9);
    assert.deepEqual(activationParams({ min: 0, max: 0 }), { scale: 1, zeroPoint: 0 });
  });

  it("chooses per-channel weight scales no worse than max-abs scaling", () => {
    const rng = new Rng(3);
    const w = Float32Array.from({ length: 3 * 27 }, () => (rng.next() - 0.5) ** 3);
    w.fill(0, 54);
    const scales = weightScales(w, 3, 63);
    assert.equal(scales[2], 1);
    for (let c = 0; c < 2; c++) {
      const ch = w.subarray(c * 27, (c + 1) * 27);
      const err = (s: number) =>
        ch.reduce((e, v) => e + (v - Math.max(-63, Math.min(63, Math.round(v / s))) * s) ** 2, 0);
      const absMax = Math.max(...Array.from(ch, Math.abs));
      assert.ok(scales[c] <= (absMax / 63) * (1 + 1e-6) && scales[c] >= (absMax / 126) * (1 - 1e-6));
      assert.ok(
        err(scales[c]) <= err(absMax / 63) * 1.001,
        `channel ${c}: ${err(scales[c])} > ${err(absMax / 63)}`,
      );
    }
  });

  it("records the min and max of every intermediate tensor over the calibration images", async () => {
    const basic = await basicOptimized(float, path.join(dir, "basic.onnx"));
    const imgs = images(6, 1);
    const ranges = await calibrate(basic, imgs, [SIZE, SIZE, 3], { batchSize: 4 });
    const input = ranges.get("input");
    assert.ok(input);
    assert.equal(input.min, Math.min(...imgs.map((i) => Math.min(...i))));
    assert.equal(input.max, Math.max(...imgs.map((i) => Math.max(...i))));
    const nodes = onnxProto.onnx.ModelProto.decode(basic).graph?.node ?? [];
    for (const n of nodes) for (const o of n.output ?? []) assert.ok(ranges.has(o), `no range for ${o}`);
    const relu = [...ranges.entries()].filter(([name]) => /relu/.test(name));
    assert.ok(relu.length >= 2);
    for (const [name, r] of relu) assert.ok(r.min >= 0 && r.max <= 6, `${name}: ${r.min}..${r.max}`);
  });

  it("runs as QLinearConv/QLinearAdd on ONNX Runtime and stays close to the float model", async () => {
    const int8 = await quantizeBackbone(float, prep, { images: images(32, 2) });
    const optimizedFile = path.join(dir, "int8-extended.onnx");
    const s = await ort.InferenceSession.create(int8, {
      graphOptimizationLevel: "extended",
      optimizedModelFilePath: optimizedFile,
    });
    await s.release();
    const ops = (onnxProto.onnx.ModelProto.decode(await readFile(optimizedFile)).graph?.node ?? []).map(
      (n) => n.opType,
    );
    assert.equal(ops.filter((op) => op === "QLinearConv").length, 3, ops.join(","));
    assert.equal(ops.filter((op) => op === "QLinearAdd").length, 1, ops.join(","));
    assert.ok(!ops.includes("Conv") && !ops.includes("BatchNormalization") && !ops.includes("Clip"));

    const heldOut = images(8, 99);
    const ref = await features(float, heldOut);
    const got = await features(int8, heldOut);
    assert.equal(got.length, ref.length);
    const similarity = cosine(ref, got);
    assert.ok(similarity > 0.99, `cosine ${similarity}`);
    assert.ok(
      ref.some((v, i) => v !== got[i]),
      "int8 output identical to float: nothing was quantized",
    );
  });
});
