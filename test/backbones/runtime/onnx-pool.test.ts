import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { compileKerasToOnnx } from "../../../src/backbones/keras-onnx/compile.js";
import { openOnnxSession } from "../../../src/backbones/runtime/onnx.js";
import { openOnnxWorkerPool, type PoolOptions } from "../../../src/backbones/runtime/onnx-pool.js";
import { sessionOptions } from "../../../src/backbones/runtime/onnx-session.js";
import { Rng } from "../../../src/lib/rng.js";
import { initTfjs, tf } from "../../../src/lib/tfjs.js";

const SIZE = 12;
const DIM = 6;
const PER = SIZE * SIZE * 3;

function tinyOnnx(): Uint8Array {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  const conv = tf.layers
    .conv2d({ filters: DIM, kernelSize: 3, activation: "relu", name: "conv" })
    .apply(input);
  const pooled = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(conv) as tf.SymbolicTensor;
  return compileKerasToOnnx(tf.model({ inputs: input, outputs: pooled }), { outputLayer: "pool" }).onnx;
}

describe("ONNX Runtime worker pool", () => {
  let model: Uint8Array;
  const n = 7;
  const input = new Float32Array(n * PER);
  const poolOptions = (over: Partial<PoolOptions> = {}): PoolOptions => ({
    workers: 2,
    sessionOptions: sessionOptions("cpu", { threads: 1, spinning: false }),
    microBatch: 2,
    outputName: "features",
    imageDims: [SIZE, SIZE, 3],
    featureDim: DIM,
    ...over,
  });

  before(async () => {
    await initTfjs();
    model = tinyOnnx();
    const rng = new Rng(11);
    for (let i = 0; i < input.length; i++) input[i] = rng.next();
  });

  it("gives every image of a batch spread over worker threads the features one session gives", async () => {
    const spec = { layout: "NHWC" as const, inputSize: SIZE, outputName: "features", featureDim: DIM };
    const single = await openOnnxSession(model, spec, { executionProvider: "cpu", threads: 1, workers: 0 });
    const pooled = await openOnnxSession(model, spec, {
      executionProvider: "cpu",
      threads: 0,
      workers: 3,
      microBatch: 2,
    });
    try {
      assert.equal(pooled.runtime, "onnxruntime-cpu");
      const expected = await single.run(input, n);
      const [a, b] = await Promise.all([pooled.run(input, n), pooled.run(input.subarray(PER), n - 1)]);
      assert.equal(a.length, n * DIM);
      assert.deepEqual(a, expected);
      assert.deepEqual(b, expected.subarray(DIM));
      assert.notDeepEqual(a.subarray(0, DIM), a.subarray(DIM, 2 * DIM));
      assert.deepEqual(await pooled.run(input.subarray(3 * PER), 1), expected.subarray(3 * DIM, 4 * DIM));
    } finally {
      await single.release();
      await pooled.release();
    }
  });

  it("refuses a model without the manifest's output", async () => {
    await assert.rejects(
      openOnnxWorkerPool(model, poolOptions({ outputName: "logits" })),
      /model has no output 'logits' \(outputs: features\)/,
    );
  });

  it("refuses a file that is not a model", async () => {
    await assert.rejects(
      openOnnxWorkerPool(new Uint8Array([1, 2, 3, 4]), poolOptions()),
      /protobuf|parse|model/i,
    );
  });

  it("fails a batch the model rejects with ONNX Runtime's reason, and its threads live on", async () => {
    const pool = await openOnnxWorkerPool(model, poolOptions({ imageDims: [SIZE, 3, SIZE] }));
    try {
      for (let i = 0; i < 3; i++) await assert.rejects(pool.run(input, n - 1), /dimension|dims|shape|index/i);
    } finally {
      await pool.release();
    }
  });

  it("refuses a short input with a reason and goes on serving", async () => {
    const pool = await openOnnxWorkerPool(model, poolOptions());
    try {
      await assert.rejects(pool.run(input.subarray(0, PER), 2), /input holds 432 values; 2 images need 864/);
      const [a, b] = await Promise.all([pool.run(input, n), pool.run(input, n)]);
      assert.equal(a.length, n * DIM);
      assert.deepEqual(a, b);
    } finally {
      await pool.release();
    }
  });

  it("rejects runs after release instead of hanging", async () => {
    const pool = await openOnnxWorkerPool(model, poolOptions());
    await pool.release();
    await assert.rejects(pool.run(input, 1), /released/);
  });
});
