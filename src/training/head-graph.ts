import { OnnxGraphBuilder } from "../backbones/keras-onnx/onnx-builder.js";

/** Dimensions of the head: input features, hidden units and classes. */
export interface HeadDims {
  inputDim: number;
  hiddenUnits: number;
  classes: number;
}

/** Inputs of the train-step graph, in order. */
export const TRAIN_INPUTS = ["x", "w1", "b1", "w2", "b2", "mask", "target", "sw"] as const;
/** Outputs of the train-step graph, in order. */
export const TRAIN_OUTPUTS = ["loss", "dw1", "db1", "dw2", "db2", "logits"] as const;
/** Inputs of the forward graph, in order. */
export const FORWARD_INPUTS = ["x", "w1", "b1", "w2", "b2"] as const;

function reserve(b: OnnxGraphBuilder, names: readonly string[]): void {
  for (const name of names) if (b.fresh(name) !== name) throw new Error(`graph name ${name} is taken`);
}

function weightIO({ inputDim: d, hiddenUnits: h, classes: c }: HeadDims) {
  return [
    { name: "x", dims: ["N", d] },
    { name: "w1", dims: [d, h] },
    { name: "b1", dims: [h] },
    { name: "w2", dims: [h, c] },
    { name: "b2", dims: [c] },
  ];
}

/**
 * The train step of `Dense(relu) -> dropout mask -> Dense` under a weighted, label-smoothed softmax
 * cross-entropy, with hand-written gradients (ONNX opset 13, batch dim `N` symbolic). Inputs
 * {@link TRAIN_INPUTS}: `mask [N,H]` is the scaled dropout mask, `target [N,C]` the smoothed one-hot labels,
 * `sw [N,1]` the sample weights summing to 1. Outputs {@link TRAIN_OUTPUTS}: the scalar loss
 * `-sum(sw * sum(target * logsoftmax(logits), 1))`, its gradients for the four weights, and the logits.
 */
export function buildTrainGraph(dims: HeadDims): Uint8Array {
  const { inputDim: d, hiddenUnits: h, classes: c } = dims;
  const b = new OnnxGraphBuilder();
  reserve(b, [...TRAIN_INPUTS, ...TRAIN_OUTPUTS]);
  const axis1 = b.int64Const("axis1", [1]);
  const axis0 = b.int64Const("axis0", [0]);
  const hidden = b.node("Relu", [b.node("Gemm", ["x", "w1", "b1"], "z1")], "h");
  const dropped = b.node("Mul", [hidden, "mask"], "hd");
  b.node("Gemm", [dropped, "w2", "b2"], "logits", {}, "logits");
  const logp = b.node("LogSoftmax", ["logits"], "logp", { axis: { int: 1 } });
  const rowLoss = b.node("ReduceSum", [b.node("Mul", ["target", logp], "tlogp"), axis1], "row", {
    keepdims: { int: 1 },
  });
  const total = b.node("ReduceSum", [b.node("Mul", [rowLoss, "sw"], "wrow")], "total", {
    keepdims: { int: 0 },
  });
  b.node("Neg", [total], "loss", {}, "loss");
  const diff = b.node("Sub", [b.node("Exp", [logp], "p"), "target"], "p_minus_t");
  const g = b.node("Mul", [diff, "sw"], "g");
  b.node("Gemm", [dropped, g], "dw2", { transA: { int: 1 } }, "dw2");
  b.node("ReduceSum", [g, axis0], "db2", { keepdims: { int: 0 } }, "db2");
  const dhd = b.node("Gemm", [g, "w2"], "dhd", { transB: { int: 1 } });
  const gate = b.node("Mul", ["mask", b.node("Sign", [hidden], "active")], "gate");
  const dz = b.node("Mul", [dhd, gate], "dz");
  b.node("Gemm", ["x", dz], "dw1", { transA: { int: 1 } }, "dw1");
  b.node("ReduceSum", [dz, axis0], "db1", { keepdims: { int: 0 } }, "db1");
  const inputs = [
    ...weightIO(dims),
    { name: "mask", dims: ["N", h] },
    { name: "target", dims: ["N", c] },
    { name: "sw", dims: ["N", 1] },
  ];
  const outputs = [
    { name: "loss", dims: [] },
    { name: "dw1", dims: [d, h] },
    { name: "db1", dims: [h] },
    { name: "dw2", dims: [h, c] },
    { name: "db2", dims: [c] },
    { name: "logits", dims: ["N", c] },
  ];
  return b.build("head_train_step", inputs, outputs);
}

/** The head's logits without dropout: inputs {@link FORWARD_INPUTS}, output `logits [N,C]`. */
export function buildForwardGraph(dims: HeadDims): Uint8Array {
  const b = new OnnxGraphBuilder();
  reserve(b, [...FORWARD_INPUTS, "logits"]);
  const hidden = b.node("Relu", [b.node("Gemm", ["x", "w1", "b1"], "z1")], "h");
  b.node("Gemm", [hidden, "w2", "b2"], "logits", {}, "logits");
  return b.build("head_forward", weightIO(dims), { name: "logits", dims: ["N", dims.classes] });
}
