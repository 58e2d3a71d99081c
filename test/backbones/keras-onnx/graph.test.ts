import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import onnxProto from "onnx-proto";
import {
  type CompiledKerasOnnx,
  compileKerasToOnnx,
  UnsupportedLayerError,
} from "../../../src/backbones/keras-onnx/compile.js";
import { initTfjs, tf } from "../../../src/lib/tfjs.js";
import { assertOnnxMatchesTfjs, on, randomizeWeights } from "../../helpers/keras.js";

const L = tf.layers;

async function expectSame(model: tf.LayersModel, compiled: CompiledKerasOnnx, batch: number): Promise<void> {
  await assertOnnxMatchesTfjs(model, compiled, batch, 5);
}

function decode(compiled: CompiledKerasOnnx) {
  const { onnx } = onnxProto;
  return onnx.ModelProto.toObject(onnx.ModelProto.decode(compiled.onnx), { longs: Number, defaults: true });
}

/** conv -> bn -> relu, then a branch ending in an UpSampling2D, which the compiler does not support. */
function modelWithUnsupportedTail(): tf.LayersModel {
  const x = tf.input({ shape: [10, 12, 3] });
  const conv = on(L.conv2d({ name: "conv", filters: 4, kernelSize: 3, strides: 2, padding: "same" }), x);
  const relu = on(L.reLU({ name: "relu" }), on(L.batchNormalization({ name: "bn" }), conv));
  const conv2 = on(L.conv2d({ name: "conv2", filters: 2, kernelSize: 1 }), relu);
  const model = tf.model({ inputs: x, outputs: on(L.upSampling2d({ name: "up", size: [2, 2] }), conv2) });
  randomizeWeights(model, 3);
  return model;
}

function throwsUnsupported(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UnsupportedLayerError, String(err));
    assert.match(err.message, pattern);
    return true;
  });
}

describe("compileKerasToOnnx graphs", () => {
  before(async () => {
    await initTfjs();
  });

  it("writes an opset-13 model: NHWC input with symbolic batch, [N, D] features, raw_data weights", () => {
    const compiled = compileKerasToOnnx(modelWithUnsupportedTail(), { outputLayer: "relu" });
    assert.deepEqual(compiled.inputShape, [10, 12, 3]);
    assert.equal(compiled.featureDim, 5 * 6 * 4);
    assert.equal(compiled.outputLayer, "relu");
    const m = decode(compiled);
    assert.ok(m.irVersion === 7 || m.irVersion === 8);
    assert.deepEqual(
      m.opsetImport.map((o: { domain: string; version: number }) => [o.domain, o.version]),
      [["", 13]],
    );
    const dims = (io: {
      type: { tensorType: { shape: { dim: { dimParam: string; dimValue: number }[] } } };
    }) => io.type.tensorType.shape.dim.map((d) => d.dimParam || d.dimValue);
    assert.deepEqual(
      m.graph.input.map((i: { name: string }) => i.name),
      ["input"],
    );
    assert.deepEqual(dims(m.graph.input[0]), ["N", 10, 12, 3]);
    assert.deepEqual(
      m.graph.output.map((o: { name: string }) => o.name),
      ["features"],
    );
    assert.deepEqual(dims(m.graph.output[0]), ["N", 120]);
    const ops: string[] = m.graph.node.map((n: { opType: string }) => n.opType);
    assert.equal(ops[0], "Transpose");
    assert.deepEqual(m.graph.node[0].input, ["input"]);
    assert.equal(ops.filter((op) => op === "Conv").length, 1, `truncated graph: ${ops.join(", ")}`);
    for (const init of m.graph.initializer) {
      assert.ok(init.rawData.length > 0 && init.floatData.length === 0, `${init.name} stored as raw_data`);
    }
  });

  it("truncates at an inner layer (non-1x1 output flattened channels-last) past an unsupported tail", async () => {
    const model = modelWithUnsupportedTail();
    throwsUnsupported(() => compileKerasToOnnx(model), /'up'.*class UpSampling2D/);
    await expectSame(model, compileKerasToOnnx(model, { outputLayer: "relu" }), 3);
    await expectSame(model, compileKerasToOnnx(model, { outputLayer: "conv2" }), 2);
    const atInput = compileKerasToOnnx(model, { outputLayer: model.layers[0].name });
    assert.equal(atInput.featureDim, 10 * 12 * 3);
    await expectSame(model, atInput, 2);
  });

  it("appends global-average-pooled outputs of pooledLayers after the output layer's features", async () => {
    const model = modelWithUnsupportedTail();
    const compiled = compileKerasToOnnx(model, { outputLayer: "relu", pooledLayers: ["conv", "bn"] });
    assert.equal(compiled.featureDim, 5 * 6 * 4 + 4 + 4);
    const layer = (name: string) => model.getLayer(name).output as tf.SymbolicTensor;
    const reference = tf.model({
      inputs: model.inputs,
      outputs: L.concatenate({ name: "reference" }).apply([
        L.flatten().apply(layer("relu")),
        L.globalAveragePooling2d({}).apply(layer("conv")),
        L.globalAveragePooling2d({}).apply(layer("bn")),
      ] as tf.SymbolicTensor[]) as tf.SymbolicTensor,
    });
    await expectSame(reference, { ...compiled, outputLayer: "reference" }, 3);
    assert.throws(
      () => compileKerasToOnnx(model, { outputLayer: "relu", pooledLayers: ["nope"] }),
      /no layer 'nope'/,
    );
  });

  it("compiles Sequential models, at the last layer by default and truncated", async () => {
    const model = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [9, 9, 2], filters: 3, kernelSize: 3, activation: "relu" }),
        L.maxPooling2d({ name: "pool", poolSize: 2 }),
        L.flatten(),
        L.dense({ units: 10, activation: "relu" }),
        L.dropout({ rate: 0.5 }),
        L.dense({ name: "head", units: 4, activation: "softmax" }),
      ],
    });
    randomizeWeights(model, 9);
    const full = compileKerasToOnnx(model);
    assert.equal(full.outputLayer, "head");
    assert.equal(full.featureDim, 4);
    await expectSame(model, full, 2);
    const pooled = compileKerasToOnnx(model, { outputLayer: "pool" });
    assert.equal(pooled.featureDim, 3 * 3 * 3);
    await expectSame(model, pooled, 3);
  });

  it("inlines a nested model used as a layer", async () => {
    const inner = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [8, 7, 3], filters: 5, kernelSize: 3, padding: "same" }),
        L.batchNormalization(),
        L.activation({ activation: "relu6" }),
      ],
    });
    const x = tf.input({ shape: [8, 7, 3] });
    const features = on(L.globalAveragePooling2d({}), on(inner, x));
    const model = tf.model({ inputs: x, outputs: on(L.dense({ units: 3 }), features) });
    randomizeWeights(model, 13);
    await expectSame(model, compileKerasToOnnx(model), 2);
  });

  it("rejects unsupported layers and configs with errors naming the layer and class", () => {
    const x = tf.input({ shape: [8, 8, 3] });
    const model = (layer: tf.layers.Layer) => tf.model({ inputs: x, outputs: on(layer, x) });
    throwsUnsupported(
      () =>
        compileKerasToOnnx(
          model(L.conv2d({ name: "dil", filters: 2, kernelSize: 3, strides: 2, dilationRate: 2 })),
        ),
      /'dil' \(class Conv2D\).*dilation_rate/,
    );
    throwsUnsupported(
      () => compileKerasToOnnx(model(L.depthwiseConv2d({ name: "dw", kernelSize: 3, dilationRate: 2 }))),
      /'dw' \(class DepthwiseConv2D\).*dilation_rate/,
    );
    throwsUnsupported(
      () => compileKerasToOnnx(model(L.dense({ name: "d4", units: 2 }))),
      /'d4' \(class Dense\).*rank-4/,
    );
    throwsUnsupported(
      () => compileKerasToOnnx(model(L.reshape({ name: "rs", targetShape: [64, 3] }))),
      /'rs' \(class Reshape\).*not supported/,
    );
    const cf = tf.input({ shape: [3, 8, 8] });
    const conv = L.conv2d({ name: "cf", filters: 2, kernelSize: 3, dataFormat: "channelsFirst" });
    throwsUnsupported(
      () => compileKerasToOnnx(tf.model({ inputs: cf, outputs: on(conv, cf) })),
      /'cf' \(class Conv2D\).*channels_first/,
    );
    assert.throws(() => compileKerasToOnnx(model(L.flatten()), { outputLayer: "nope" }), /no layer 'nope'/);
    const y = tf.input({ shape: [8, 8, 3] });
    const two = tf.model({ inputs: [x, y], outputs: on(L.add(), [x, y]) });
    assert.throws(() => compileKerasToOnnx(two), /2 inputs/);
  });
});
