import type { OnnxGraphBuilder } from "./onnx-builder.js";

/** Emits `Clip(x, min, max)` (opset 13 takes the bounds as inputs; an empty name means unbounded). */
export function clip(b: OnnxGraphBuilder, x: string, base: string, min?: number, max?: number): string {
  const lo = min === undefined ? "" : b.floatConst(`${base}/clip_min`, [min], []);
  const hi = max === undefined ? "" : b.floatConst(`${base}/clip_max`, [max], []);
  return b.node("Clip", hi === "" ? [x, lo] : [x, lo, hi], base);
}

function scalarOp(b: OnnxGraphBuilder, op: string, x: string, value: number, base: string): string {
  return b.node(op, [x, b.floatConst(`${base}/${op.toLowerCase()}_const`, [value], [])], base);
}

function gelu(b: OnnxGraphBuilder, x: string, base: string): string {
  const erf = b.node("Erf", [scalarOp(b, "Div", x, Math.SQRT2, base)], base);
  const half = scalarOp(b, "Mul", scalarOp(b, "Add", erf, 1, base), 0.5, base);
  return b.node("Mul", [x, half], base);
}

function geluTanh(b: OnnxGraphBuilder, x: string, base: string): string {
  const cube = scalarOp(b, "Mul", b.node("Mul", [b.node("Mul", [x, x], base), x], base), 0.044715, base);
  const inner = scalarOp(b, "Mul", b.node("Add", [x, cube], base), Math.sqrt(2 / Math.PI), base);
  const t = scalarOp(b, "Add", b.node("Tanh", [inner], base), 1, base);
  return scalarOp(b, "Mul", b.node("Mul", [x, t], base), 0.5, base);
}

type ActivationEmitter = (b: OnnxGraphBuilder, x: string, base: string, axis: number) => string;

const ACTIVATIONS: Record<string, ActivationEmitter> = {
  linear: (_b, x) => x,
  relu: (b, x, base) => b.node("Relu", [x], base),
  relu6: (b, x, base) => clip(b, x, base, 0, 6),
  sigmoid: (b, x, base) => b.node("Sigmoid", [x], base),
  hardSigmoid: (b, x, base) =>
    b.node("HardSigmoid", [x], base, { alpha: { float: 0.2 }, beta: { float: 0.5 } }),
  tanh: (b, x, base) => b.node("Tanh", [x], base),
  softmax: (b, x, base, axis) => b.node("Softmax", [x], base, { axis: { int: axis } }),
  logSoftmax: (b, x, base, axis) => b.node("LogSoftmax", [x], base, { axis: { int: axis } }),
  elu: (b, x, base) => b.node("Elu", [x], base, { alpha: { float: 1 } }),
  selu: (b, x, base) => b.node("Selu", [x], base),
  softplus: (b, x, base) => b.node("Softplus", [x], base),
  softsign: (b, x, base) => b.node("Softsign", [x], base),
  swish: (b, x, base) => b.node("Mul", [x, b.node("Sigmoid", [x], base)], base),
  mish: (b, x, base) => b.node("Mul", [x, b.node("Tanh", [b.node("Softplus", [x], base)], base)], base),
  gelu: (b, x, base) => gelu(b, x, base),
  gelu_new: (b, x, base) => geluTanh(b, x, base),
};
ACTIVATIONS.silu = ACTIVATIONS.swish;
ACTIVATIONS.hard_sigmoid = ACTIVATIONS.hardSigmoid;
ACTIVATIONS.log_softmax = ACTIVATIONS.logSoftmax;

/** Names of the Keras / TF.js activations {@link emitActivation} supports. */
export const SUPPORTED_ACTIVATIONS: readonly string[] = Object.keys(ACTIVATIONS);

/**
 * Emits a Keras activation function applied to `x` (channel axis `axis` for softmax) and returns the
 * output name, or `undefined` when the activation is unknown. `linear` returns `x` unchanged.
 */
export function emitActivation(
  b: OnnxGraphBuilder,
  x: string,
  activation: string,
  base: string,
  axis = 1,
): string | undefined {
  return Object.hasOwn(ACTIVATIONS, activation) ? ACTIVATIONS[activation](b, x, base, axis) : undefined;
}
