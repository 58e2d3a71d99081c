import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { compileKerasToOnnx } from "../../../src/backbones/keras-onnx/compile.js";
import { openOnnxSession } from "../../../src/backbones/runtime/onnx.js";
import { Rng } from "../../../src/lib/rng.js";
import { initTfjs, tf } from "../../../src/lib/tfjs.js";

const SIZE = 12;
const spec = { layout: "NHWC" as const, inputSize: SIZE, outputName: "features", featureDim: 6 };

function tinyOnnx(): Uint8Array {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  const conv = tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: "relu", name: "conv" }).apply(input);
  const pooled = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(conv) as tf.SymbolicTensor;
  return compileKerasToOnnx(tf.model({ inputs: input, outputs: pooled }), { outputLayer: "pool" }).onnx;
}

describe("openOnnxSession micro-batches", () => {
  let model: Uint8Array;
  const n = 7;
  const per = SIZE * SIZE * 3;
  const input = new Float32Array(n * per);

  before(async () => {
    await initTfjs();
    model = tinyOnnx();
    const rng = new Rng(5);
    for (let i = 0; i < input.length; i++) input[i] = rng.next();
  });

  const open = (microBatch: number) =>
    openOnnxSession(model, spec, { executionProvider: "cpu", threads: 1, microBatch });

  it("gives every image of a batch split into slices the features it gets alone", async () => {
    const whole = await open(0);
    const sliced = await open(3);
    try {
      const all = await whole.run(input, n);
      const parts = await sliced.run(input, n);
      assert.equal(parts.length, n * spec.featureDim);
      assert.deepEqual(parts, all);
      for (let i = 0; i < n; i++) {
        const one = await whole.run(input.slice(i * per, (i + 1) * per), 1);
        assert.deepEqual(parts.subarray(i * spec.featureDim, (i + 1) * spec.featureDim), one);
      }
      assert.notDeepEqual(
        parts.subarray(0, spec.featureDim),
        parts.subarray(spec.featureDim, 2 * spec.featureDim),
      );
    } finally {
      await whole.release();
      await sliced.release();
    }
  });

  it("runs only the first n images of a longer buffer", async () => {
    const session = await open(2);
    try {
      const three = await session.run(input, 3);
      assert.equal(three.length, 3 * spec.featureDim);
      assert.deepEqual(three, (await session.run(input, n)).subarray(0, 3 * spec.featureDim));
    } finally {
      await session.release();
    }
  });
});
