import { emitActivation } from "./activations.js";
import {
  convKernelToOnnx,
  depthwiseKernelToOnnx,
  type LayerContext,
  layerWeights,
  pair,
  spatialInput,
  unsupported,
  weight,
  windowPads,
} from "./common.js";

/** Applies the layer's `activation` config (default linear) to `y` on the channel axis. */
export function applyActivation(ctx: LayerContext, y: string, key = "activation"): string {
  const name = ctx.config[key] ?? "linear";
  if (typeof name !== "string") return unsupported(ctx, `${key} ${JSON.stringify(name)}`);
  return emitActivation(ctx.b, y, name, ctx.layer.name) ?? unsupported(ctx, `activation '${name}'`);
}

function conv(ctx: LayerContext, depthwise: boolean): string {
  const x = spatialInput(ctx);
  const kernel = pair(ctx, "kernelSize");
  const strides = pair(ctx, "strides", [1, 1]);
  const dilations = pair(ctx, "dilationRate", [1, 1]);
  if (strides.some((s) => s > 1) && dilations.some((d) => d > 1)) {
    unsupported(ctx, `dilation_rate [${dilations}] together with strides [${strides}]`);
  }
  if (depthwise && dilations.some((d) => d > 1)) {
    unsupported(ctx, `dilation_rate [${dilations}] (TF.js ignores it for DepthwiseConv2D, Keras does not)`);
  }
  const groups = ctx.config["groups"];
  if (groups !== undefined && groups !== 1) unsupported(ctx, `groups ${JSON.stringify(groups)}`);
  const weights = layerWeights(ctx.layer);
  const k = weight(ctx, weights, depthwise ? "depthwise_kernel" : "kernel");
  if (k.shape[0] !== kernel[0] || k.shape[1] !== kernel[1] || k.shape[2] !== x.c) {
    unsupported(
      ctx,
      `kernel shape [${k.shape}] does not fit kernel_size [${kernel}] and ${x.c} input channels`,
    );
  }
  const w = depthwise ? depthwiseKernelToOnnx(k) : convKernelToOnnx(k);
  const base = ctx.layer.name;
  const inputs = [x.name, ctx.b.floatConst(`${base}/weight`, w.data, w.shape)];
  const useBias = ctx.config["useBias"] !== false;
  if (useBias)
    inputs.push(
      ctx.b.floatConst(`${base}/bias`, weight(ctx, weights, "bias", w.shape[0]).data, [w.shape[0]]),
    );
  const y = ctx.b.node("Conv", inputs, base, {
    kernel_shape: { ints: kernel },
    strides: { ints: strides },
    dilations: { ints: dilations },
    pads: { ints: windowPads(ctx, [x.h, x.w], kernel, strides, dilations) },
    group: { int: depthwise ? x.c : 1 },
  });
  return applyActivation(ctx, y);
}

function pool(ctx: LayerContext, op: "MaxPool" | "AveragePool"): string {
  const x = spatialInput(ctx);
  const kernel = pair(ctx, "poolSize");
  const strides = ctx.config["strides"] == null ? kernel : pair(ctx, "strides");
  const attrs = {
    kernel_shape: { ints: kernel },
    strides: { ints: strides },
    pads: { ints: windowPads(ctx, [x.h, x.w], kernel, strides) },
    ...(op === "AveragePool" ? { count_include_pad: { int: 0 } } : {}),
  };
  return ctx.b.node(op, [x.name], ctx.layer.name, attrs);
}

function globalPool(ctx: LayerContext, op: "GlobalAveragePool" | "GlobalMaxPool"): string {
  const x = spatialInput(ctx);
  const y = ctx.b.node(op, [x.name], ctx.layer.name);
  return ctx.outShape.length === 1 ? ctx.b.node("Flatten", [y], ctx.layer.name, { axis: { int: 1 } }) : y;
}

function zeroPadding(ctx: LayerContext): string {
  const x = spatialInput(ctx);
  const p = ctx.config["padding"];
  const rows = Array.isArray(p) ? p[0] : p;
  const cols = Array.isArray(p) ? p[1] : p;
  const [top, bottom] = typeof rows === "number" ? [rows, rows] : (rows as number[]);
  const [left, right] = typeof cols === "number" ? [cols, cols] : (cols as number[]);
  const pads = [0, 0, top, left, 0, 0, bottom, right];
  if (!pads.every((v) => Number.isInteger(v) && v >= 0)) unsupported(ctx, `padding ${JSON.stringify(p)}`);
  return ctx.b.node("Pad", [x.name, ctx.b.int64Const(`${ctx.layer.name}/pads`, pads)], ctx.layer.name);
}

/** Emitters of the 2-D spatial layers (convolutions, pooling, padding), keyed by Keras class name. */
export const SPATIAL_LAYERS: Record<string, (ctx: LayerContext) => string> = {
  Conv2D: (ctx) => conv(ctx, false),
  DepthwiseConv2D: (ctx) => conv(ctx, true),
  MaxPooling2D: (ctx) => pool(ctx, "MaxPool"),
  AveragePooling2D: (ctx) => pool(ctx, "AveragePool"),
  GlobalAveragePooling2D: (ctx) => globalPool(ctx, "GlobalAveragePool"),
  GlobalMaxPooling2D: (ctx) => globalPool(ctx, "GlobalMaxPool"),
  ZeroPadding2D: zeroPadding,
};
