import { before, describe, it } from "node:test";
import { compileKerasToOnnx } from "../../../src/backbones/keras-onnx/compile.js";
import { initTfjs, tf } from "../../../src/lib/tfjs.js";
import { assertOnnxMatchesTfjs, on, randomizeWeights, type ST } from "../../helpers/keras.js";

const L = tf.layers;
const ACTIVATIONS = [
  "linear",
  "relu",
  "relu6",
  "sigmoid",
  "hardSigmoid",
  "tanh",
  "softmax",
  "elu",
  "selu",
  "softplus",
  "softsign",
  "swish",
  "mish",
  "gelu",
  "gelu_new",
] as const;

function flat(x: ST): ST {
  return on(L.flatten(), x);
}

/** Compiles `model` (at `outputLayer`), runs both runtimes on a random batch and checks they agree. */
async function expectSame(model: tf.LayersModel, batch = 3, outputLayer?: string): Promise<void> {
  randomizeWeights(model, 7);
  const compiled = compileKerasToOnnx(model, { outputLayer });
  await assertOnnxMatchesTfjs(model, compiled, batch, 11);
}

describe("compileKerasToOnnx layers vs TF.js", () => {
  before(async () => {
    await initTfjs();
  });

  it("Conv2D: valid/same, strides 1/2, dilation, bias on/off, kernel activations", async () => {
    const x = tf.input({ shape: [13, 11, 3] });
    const branches = [
      on(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: "same", activation: "relu" }), x),
      on(L.conv2d({ filters: 5, kernelSize: [3, 2], padding: "valid", dilationRate: 2, useBias: false }), x),
      on(
        L.conv2d({ filters: 3, kernelSize: 3, padding: "same", dilationRate: [2, 1], activation: "selu" }),
        x,
      ),
      on(
        L.conv2d({ filters: 4, kernelSize: [2, 3], strides: [2, 1], padding: "same", activation: "tanh" }),
        x,
      ),
      on(L.conv2d({ filters: 2, kernelSize: 4, strides: 3, padding: "valid", activation: "sigmoid" }), x),
      on(L.conv2d({ filters: 6, kernelSize: 1, activation: "softmax" }), x),
    ];
    await expectSame(tf.model({ inputs: x, outputs: on(L.concatenate(), branches.map(flat)) }));
  });

  it("DepthwiseConv2D: depth multiplier 1/2, strides 1/2, valid/same, bias on/off", async () => {
    const x = tf.input({ shape: [12, 9, 3] });
    const branches = [
      on(
        L.depthwiseConv2d({
          kernelSize: 3,
          strides: 2,
          padding: "same",
          depthMultiplier: 2,
          activation: "relu6",
        }),
        x,
      ),
      on(L.depthwiseConv2d({ kernelSize: 3, padding: "valid", useBias: false }), x),
      on(
        L.depthwiseConv2d({ kernelSize: [2, 3], padding: "same", depthMultiplier: 2, activation: "elu" }),
        x,
      ),
      on(L.depthwiseConv2d({ kernelSize: 3, strides: [1, 2], padding: "valid", useBias: false }), x),
    ];
    await expectSame(tf.model({ inputs: x, outputs: on(L.concatenate(), branches.map(flat)) }));
  });

  it("BatchNormalization (center/scale flags, epsilon, rank 2 and 4), ZeroPadding2D, ReLU, LeakyReLU", async () => {
    const x = tf.input({ shape: [6, 7, 4] });
    const conv = on(L.conv2d({ filters: 5, kernelSize: 3, padding: "same", useBias: false }), x);
    const bn = on(L.batchNormalization({ epsilon: 1e-3 }), conv);
    const relu6 = on(
      L.reLU({ maxValue: 6 }),
      on(
        L.zeroPadding2d({
          padding: [
            [1, 2],
            [0, 3],
          ],
        }),
        bn,
      ),
    );
    const relu = on(L.reLU(), on(L.batchNormalization({ center: false, scale: false, epsilon: 0.01 }), conv));
    const leaky = on(L.leakyReLU({ alpha: 0.2 }), on(L.batchNormalization({ axis: 3, scale: false }), conv));
    const padded = on(L.zeroPadding2d({ padding: 2 }), on(L.batchNormalization({ center: false }), x));
    const dense = on(L.dense({ units: 6 }), flat(relu));
    const bn2 = on(L.batchNormalization({ axis: -1 }), dense);
    const outputs = on(L.concatenate(), [flat(relu6), flat(relu), flat(leaky), flat(padded), bn2]);
    await expectSame(tf.model({ inputs: x, outputs }));
  });

  it("every activation, as Activation layers (softmax over channels) and as Dense activations", async () => {
    const x = tf.input({ shape: [5, 4, 6] });
    const conv = on(L.conv2d({ filters: 6, kernelSize: 1 }), x);
    const spatial = ACTIVATIONS.map((activation) => flat(on(L.activation({ activation }), conv)));
    const features = on(L.dense({ units: 8, activation: "swish" }), flat(conv));
    const heads = ACTIVATIONS.map((activation) => on(L.dense({ units: 4, activation }), features));
    const softmax = flat(on(L.softmax({ axis: -1 }), conv));
    const noBias = on(L.dense({ units: 3, useBias: false, activation: "softmax" }), features);
    const outputs = on(L.concatenate(), [...spatial, ...heads, softmax, noBias]);
    await expectSame(tf.model({ inputs: x, outputs }));
  });

  it("MaxPooling2D / AveragePooling2D valid and same (padding excluded from averages), global pooling", async () => {
    const x = tf.input({ shape: [10, 9, 4] });
    const branches = [
      on(L.maxPooling2d({ poolSize: 3, strides: 2, padding: "same" }), x),
      on(L.maxPooling2d({ poolSize: [2, 3], strides: [2, 2], padding: "valid" }), x),
      on(L.maxPooling2d({ poolSize: 2 }), x),
      on(L.averagePooling2d({ poolSize: 3, strides: 2, padding: "same" }), x),
      on(L.averagePooling2d({ poolSize: 3, strides: 1, padding: "same" }), x),
      on(L.averagePooling2d({ poolSize: [2, 4], strides: [3, 2], padding: "valid" }), x),
    ];
    const pooled = [on(L.globalAveragePooling2d({}), x), on(L.globalMaxPooling2d({}), x)];
    await expectSame(
      tf.model({ inputs: x, outputs: on(L.concatenate(), [...branches.map(flat), ...pooled]) }),
    );
  });

  it("Concatenate on every axis, Add and the other merges, non-1x1 Flatten, Dense, Dropout", async () => {
    const x = tf.input({ shape: [4, 5, 3] });
    const a = on(L.conv2d({ filters: 3, kernelSize: 3, padding: "same" }), x);
    const b = on(L.conv2d({ filters: 3, kernelSize: 1 }), x);
    const c = on(L.conv2d({ filters: 3, kernelSize: 3, padding: "same", activation: "relu" }), x);
    const merged = [
      on(L.add(), [a, b, c]),
      on(L.average(), [a, b]),
      on(L.maximum(), [a, b, c]),
      on(L.minimum(), [a, c]),
      on(L.multiply(), [a, b, c]),
      on(L.concatenate({ axis: 1 }), [a, b]),
      on(L.concatenate({ axis: 2 }), [a, c]),
      on(L.concatenate({ axis: 3 }), [x, a, b]),
    ];
    const flatAll = on(L.concatenate({ axis: -1 }), merged.map(flat));
    const hidden = on(L.dropout({ rate: 0.5 }), on(L.dense({ units: 16, activation: "relu" }), flatAll));
    const noisy = on(L.gaussianDropout({ rate: 0.3 }), on(L.gaussianNoise({ stddev: 1 }), hidden));
    const out = on(L.add(), [on(L.dense({ units: 5 }), noisy), on(L.dense({ units: 5 }), flat(c))]);
    await expectSame(tf.model({ inputs: x, outputs: on(L.alphaDropout({ rate: 0.1 }), out) }));
  });
});
