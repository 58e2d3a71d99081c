import type { tf } from "../../lib/tfjs.js";
import type { OnnxGraphBuilder } from "./onnx-builder.js";

/** A Keras layer object (what `model.layers` holds). */
export type KerasLayer = tf.SymbolicTensor["sourceLayer"];

/**
 * A compiled value: its ONNX name and its Keras shape without the batch dim ([H, W, C] or [D]).
 * Rank-3 Keras shapes are stored as NCHW in the ONNX graph; rank-1 ones as [N, D].
 */
export interface KTensor {
  name: string;
  shape: number[];
}

/** What a layer emitter gets: the builder, the layer with its config, its inputs and its output shape. */
export interface LayerContext {
  b: OnnxGraphBuilder;
  layer: KerasLayer;
  config: Record<string, unknown>;
  inputs: KTensor[];
  outShape: number[];
}

/** Thrown for a layer class or configuration the compiler does not support. */
export class UnsupportedLayerError extends Error {
  constructor(layer: KerasLayer, reason: string) {
    super(`Cannot compile layer '${layer.name}' (class ${layer.getClassName()}) to ONNX: ${reason}`);
    this.name = "UnsupportedLayerError";
  }
}

/** Throws an {@link UnsupportedLayerError} for the context's layer. */
export function unsupported(ctx: LayerContext, reason: string): never {
  throw new UnsupportedLayerError(ctx.layer, reason);
}

/** A config entry as a pair of numbers (accepts a single number, like Keras). */
export function pair(ctx: LayerContext, key: string, fallback?: [number, number]): [number, number] {
  const v = ctx.config[key] ?? fallback;
  if (typeof v === "number") return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number")) return [v[0], v[1]];
  return unsupported(ctx, `${key} ${JSON.stringify(v)} is not a pair of numbers`);
}

/** The single input of a layer as a 4-D (NCHW in ONNX) tensor. */
export function spatialInput(ctx: LayerContext): KTensor & { h: number; w: number; c: number } {
  if (ctx.inputs.length !== 1) unsupported(ctx, `expected 1 input, got ${ctx.inputs.length}`);
  const x = ctx.inputs[0];
  if (x.shape.length !== 3) unsupported(ctx, `expected an [N, H, W, C] input, got [N, ${x.shape}]`);
  if (ctx.config["dataFormat"] === "channelsFirst") unsupported(ctx, "data_format channels_first");
  const [h, w, c] = x.shape;
  return { ...x, h, w, c };
}

/** TF padding along one axis as [before, after] for `valid` or `same`. */
export function axisPads(
  padding: string,
  size: number,
  kernel: number,
  stride: number,
  dilation = 1,
): number[] {
  if (padding === "valid") return [0, 0];
  const effective = (kernel - 1) * dilation + 1;
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** ONNX `pads` ([top, left, bottom, right]) for a 2-D window op with TF padding semantics. */
export function windowPads(
  ctx: LayerContext,
  size: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number] = [1, 1],
): number[] {
  const padding = ctx.config["padding"];
  if (padding !== "valid" && padding !== "same") unsupported(ctx, `padding '${String(padding)}'`);
  const [top, bottom] = axisPads(padding, size[0], kernel[0], strides[0], dilations[0]);
  const [left, right] = axisPads(padding, size[1], kernel[1], strides[1], dilations[1]);
  return [top, left, bottom, right];
}

/** A layer weight read from the loaded layer (uint8-quantized ones are already dequantized by TF.js). */
export interface Weight {
  data: Float32Array;
  shape: number[];
}

/** The layer's weights keyed by their Keras short name (kernel, bias, gamma, moving_mean, ...). */
export function layerWeights(layer: KerasLayer): Map<string, Weight> {
  const values = layer.getWeights();
  const out = new Map<string, Weight>();
  layer.weights.forEach((v, i) => {
    const base = (v.originalName ?? v.name).split("/").pop()!.replace(/_\d+$/, "");
    const t = values[i];
    out.set(base, { data: Float32Array.from(t.dataSync()), shape: t.shape });
  });
  return out;
}

/** Reads a named weight of a layer, failing clearly when it is missing or mis-shaped. */
export function weight(ctx: LayerContext, weights: Map<string, Weight>, name: string, size?: number): Weight {
  const w = weights.get(name);
  if (!w)
    return unsupported(ctx, `weight '${name}' not found (has ${[...weights.keys()].join(", ") || "none"})`);
  if (size !== undefined && w.data.length !== size)
    unsupported(ctx, `weight '${name}' has ${w.data.length} values`);
  return w;
}

/** Keras Conv2D kernel [kh, kw, in, out] to ONNX Conv weight [out, in, kh, kw]. */
export function convKernelToOnnx(k: Weight): Weight {
  const [kh, kw, cin, cout] = k.shape;
  const data = new Float32Array(k.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          data[((o * cin + i) * kh + y) * kw + x] = k.data[((y * kw + x) * cin + i) * cout + o];
  return { data, shape: [cout, cin, kh, kw] };
}

/** Keras depthwise kernel [kh, kw, in, mult] to grouped ONNX Conv weight [in * mult, 1, kh, kw]. */
export function depthwiseKernelToOnnx(k: Weight): Weight {
  const [kh, kw, cin, mult] = k.shape;
  const data = new Float32Array(k.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let g = 0; g < cin; g++)
        for (let m = 0; m < mult; m++)
          data[((g * mult + m) * kh + y) * kw + x] = k.data[((y * kw + x) * cin + g) * mult + m];
  return { data, shape: [cin * mult, 1, kh, kw] };
}

/** ONNX axis of a Keras axis (which counts the batch dim) for a tensor with Keras shape `shape`. */
export function onnxAxis(ctx: LayerContext, axis: number, shape: number[]): number {
  const rank = shape.length + 1;
  const a = axis < 0 ? axis + rank : axis;
  if (a <= 0 || a >= rank) unsupported(ctx, `axis ${axis} for a rank-${rank} tensor`);
  if (rank === 2) return 1;
  if (rank === 4) return a === 3 ? 1 : a + 1;
  return unsupported(ctx, `rank-${rank} tensors`);
}
