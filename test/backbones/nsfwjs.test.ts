import assert from "node:assert/strict";
import path from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { compileKerasToOnnx } from "../../src/backbones/keras-onnx/compile.js";
import { compareOnnxWithTfjs } from "../../src/backbones/keras-onnx/verify.js";
import {
  loadNsfwjsModel,
  NSFWJS_FEATURE_LAYERS,
  NSFWJS_INPUT_SIZE,
  type NsfwjsModelName,
  nsfwjsArtifacts,
} from "../../src/backbones/nsfwjs.js";
import { initTfjs, tf } from "../../src/lib/tfjs.js";

const PHOTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../assets/photos/chelsea.jpg");
const NEUTRAL = 2;

/** The photo resized to size x size, scaled to [0, 1], as a [1, size, size, 3] NHWC tensor. */
async function photoTensor(size: number): Promise<tf.Tensor4D> {
  const { data, info } = await sharp(PHOTO)
    .removeAlpha()
    .resize(size, size, { fit: "fill" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.equal(data.length, size * size * 3);
  assert.equal(info.channels, 3);
  return tf.tensor4d(
    Float32Array.from(data, (v) => v / 255),
    [1, size, size, 3],
  );
}

describe("nsfwjs built-in backbones", () => {
  before(async () => {
    await initTfjs();
  });

  it("reads the artifacts of both models from the nsfwjs package", () => {
    for (const name of ["mobilenet_v2", "inception_v3"] as const) {
      const a = nsfwjsArtifacts(name);
      const bytes = (a.weightSpecs ?? []).reduce((n, s) => n + s.shape.reduce((x, y) => x * y, 1), 0);
      assert.equal((a.weightData as ArrayBuffer).byteLength, bytes, `${name}: uint8 weights fill weightData`);
    }
    assert.throws(() => nsfwjsArtifacts("resnet" as NsfwjsModelName), /Unknown nsfwjs model 'resnet'/);
  });

  const cases: { name: NsfwjsModelName; dim: number; batch: number }[] = [
    { name: "mobilenet_v2", dim: 1280, batch: 2 },
    { name: "inception_v3", dim: 2048, batch: 1 },
  ];
  for (const { name, dim, batch } of cases) {
    it(`${name}: features compiled at ${NSFWJS_FEATURE_LAYERS[name]} match TF.js on noise and a photo`, async (t) => {
      const model = await loadNsfwjsModel(name);
      const size = NSFWJS_INPUT_SIZE[name];
      const noise = tf.randomUniform([batch, size, size, 3], 0, 1, "float32", 42);
      const photo = await photoTensor(size);
      try {
        const started = performance.now();
        const compiled = compileKerasToOnnx(model, { outputLayer: NSFWJS_FEATURE_LAYERS[name] });
        const compileMs = performance.now() - started;
        assert.deepEqual(compiled.inputShape, [size, size, 3]);
        assert.equal(compiled.featureDim, dim);
        const [onNoise, onPhoto] = await compareOnnxWithTfjs(model, compiled, [noise, photo]);
        t.diagnostic(
          `${name}: compile ${compileMs.toFixed(0)} ms, ${(compiled.onnx.length / 2 ** 20).toFixed(1)} MiB; ` +
            `max abs diff noise ${onNoise.maxAbsDiff.toExponential(2)}, photo ${onPhoto.maxAbsDiff.toExponential(2)}`,
        );
        for (const r of [onNoise, onPhoto]) {
          assert.ok(r.maxAbsRef > 0.1, "features are not degenerate");
          assert.ok(r.maxAbsDiff < 1e-4, `max abs diff ${r.maxAbsDiff}`);
        }
      } finally {
        tf.dispose([noise, photo]);
        model.dispose();
      }
    });
  }

  it("mobilenet_v2 compiled whole (nsfwjs head included) matches TF.js and finds the cat photo neutral", async () => {
    const model = await loadNsfwjsModel("mobilenet_v2");
    const photo = await photoTensor(NSFWJS_INPUT_SIZE.mobilenet_v2);
    try {
      const compiled = compileKerasToOnnx(model);
      assert.equal(compiled.outputLayer, "dense_3");
      assert.equal(compiled.featureDim, 5);
      const [r] = await compareOnnxWithTfjs(model, compiled, [photo]);
      assert.ok(r.maxAbsDiff < 1e-4, `max abs diff ${r.maxAbsDiff}`);
      assert.ok(Math.abs(r.onnx.reduce((a, b) => a + b, 0) - 1) < 1e-4, "softmax sums to 1");
      assert.equal(r.onnx.indexOf(Math.max(...r.onnx)), NEUTRAL, `class probabilities ${r.onnx}`);
    } finally {
      photo.dispose();
      model.dispose();
    }
  });
});
