import { clip, emitActivation } from "./activations.js";
import { type KTensor, type LayerContext, layerWeights, onnxAxis, unsupported, weight } from "./common.js";
import type { OnnxGraphBuilder } from "./onnx-builder.js";
import { applyActivation, SPATIAL_LAYERS } from "./spatial.js";

/** Emits the ONNX ops of one Keras layer and returns the name of its output value. */
export type LayerEmitter = (ctx: LayerContext) => string;

/**
 * Flattens `x` to [N, D] in Keras channels-last order: NCHW values are transposed back to NHWC first
 * unless their spatial size is 1x1. A rank-1 value is passed through (or copied to `output` when given).
 */
export function flattenChannelsLast(b: OnnxGraphBuilder, x: KTensor, base: string, output?: string): string {
  if (x.shape.length === 1)
    return output === undefined ? x.name : b.node("Identity", [x.name], base, {}, output);
  if (x.shape.length !== 3) throw new Error(`Cannot flatten '${base}': rank-${x.shape.length + 1} tensor`);
  const spatial = x.shape[0] === 1 && x.shape[1] === 1;
  const nhwc = spatial
    ? x.name
    : b.node("Transpose", [x.name], `${base}/nhwc`, { perm: { ints: [0, 2, 3, 1] } });
  return b.node("Flatten", [nhwc], base, { axis: { int: 1 } }, output);
}

function single(ctx: LayerContext): KTensor {
  if (ctx.inputs.length !== 1) unsupported(ctx, `expected 1 input, got ${ctx.inputs.length}`);
  return ctx.inputs[0];
}

function channelAxis(ctx: LayerContext, x: KTensor, key = "axis"): void {
  const raw = ctx.config[key] ?? -1;
  const axis = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
  if (typeof axis !== "number" || onnxAxis(ctx, axis, x.shape) !== 1) {
    unsupported(ctx, `${key} ${JSON.stringify(raw)} is not the channel axis`);
  }
}

function batchNorm(ctx: LayerContext): string {
  const x = single(ctx);
  channelAxis(ctx, x);
  const c = x.shape[x.shape.length - 1];
  const weights = layerWeights(ctx.layer);
  const base = ctx.layer.name;
  const get = (name: string, enabled: boolean, fill: number): string =>
    ctx.b.floatConst(
      `${base}/${name}`,
      enabled ? weight(ctx, weights, name, c).data : new Float32Array(c).fill(fill),
      [c],
    );
  const inputs = [
    x.name,
    get("gamma", ctx.config["scale"] !== false, 1),
    get("beta", ctx.config["center"] !== false, 0),
    get("moving_mean", true, 0),
    get("moving_variance", true, 1),
  ];
  const epsilon = Number(ctx.config["epsilon"] ?? 1e-3);
  return ctx.b.node("BatchNormalization", inputs, base, { epsilon: { float: epsilon } });
}

function relu(ctx: LayerContext): string {
  const x = single(ctx);
  for (const key of ["negativeSlope", "threshold"]) {
    const v = ctx.config[key];
    if (v != null && v !== 0) unsupported(ctx, `${key} ${JSON.stringify(v)}`);
  }
  const max = ctx.config["maxValue"];
  if (max == null) return ctx.b.node("Relu", [x.name], ctx.layer.name);
  if (typeof max !== "number") return unsupported(ctx, `max_value ${JSON.stringify(max)}`);
  return clip(ctx.b, x.name, ctx.layer.name, 0, max);
}

function leakyRelu(ctx: LayerContext): string {
  const alpha = Number(ctx.config["alpha"] ?? 0.3);
  return ctx.b.node("LeakyRelu", [single(ctx).name], ctx.layer.name, { alpha: { float: alpha } });
}

function softmaxLayer(ctx: LayerContext): string {
  const x = single(ctx);
  channelAxis(ctx, x);
  return emitActivation(ctx.b, x.name, "softmax", ctx.layer.name)!;
}

function dense(ctx: LayerContext): string {
  const x = single(ctx);
  if (x.shape.length !== 1) unsupported(ctx, `Dense on a rank-${x.shape.length + 1} input (only [N, D])`);
  const [units] = ctx.outShape;
  const weights = layerWeights(ctx.layer);
  const base = ctx.layer.name;
  const k = weight(ctx, weights, "kernel", x.shape[0] * units);
  const kernel = ctx.b.floatConst(`${base}/kernel`, k.data, [x.shape[0], units]);
  if (ctx.config["useBias"] === false)
    return applyActivation(ctx, ctx.b.node("MatMul", [x.name, kernel], base));
  const bias = ctx.b.floatConst(`${base}/bias`, weight(ctx, weights, "bias", units).data, [units]);
  return applyActivation(ctx, ctx.b.node("Gemm", [x.name, kernel, bias], base));
}

function flatten(ctx: LayerContext): string {
  if (ctx.config["dataFormat"] === "channelsFirst") unsupported(ctx, "data_format channels_first");
  return flattenChannelsLast(ctx.b, single(ctx), ctx.layer.name);
}

function concatenate(ctx: LayerContext): string {
  const x = ctx.inputs[0];
  if (ctx.inputs.some((t) => t.shape.length !== x.shape.length))
    unsupported(ctx, "inputs of different ranks");
  const axis = onnxAxis(ctx, Number(ctx.config["axis"] ?? -1), x.shape);
  const names = ctx.inputs.map((t) => t.name);
  return ctx.b.node("Concat", names, ctx.layer.name, { axis: { int: axis } });
}

function merge(op: string, binary = false): LayerEmitter {
  return (ctx) => {
    const names = ctx.inputs.map((t) => t.name);
    if (names.length < 2) unsupported(ctx, `${names.length} inputs`);
    if (ctx.inputs.some((t) => t.shape.join() !== ctx.inputs[0].shape.join())) {
      unsupported(ctx, "inputs of different shapes");
    }
    if (!binary) return ctx.b.node(op, names, ctx.layer.name);
    return names.slice(1).reduce((acc, n) => ctx.b.node(op, [acc, n], ctx.layer.name), names[0]);
  };
}

const identity: LayerEmitter = (ctx) => single(ctx).name;

/** All supported Keras layer classes (other than InputLayer) and their emitters. */
export const LAYER_EMITTERS: Record<string, LayerEmitter> = {
  ...SPATIAL_LAYERS,
  BatchNormalization: batchNorm,
  ReLU: relu,
  LeakyReLU: leakyRelu,
  Softmax: softmaxLayer,
  Activation: (ctx) => applyActivation(ctx, single(ctx).name),
  Dense: dense,
  Flatten: flatten,
  Concatenate: concatenate,
  Add: merge("Sum"),
  Average: merge("Mean"),
  Maximum: merge("Max"),
  Minimum: merge("Min"),
  Multiply: merge("Mul", true),
  Dropout: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
};
