import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { bytesOf } from "../keras-onnx/onnx-builder.js";

const { onnx } = onnxProto;
const DTYPE = onnx.TensorProto.DataType;
type Node = OnnxTypes.INodeProto;
type Tensor = OnnxTypes.ITensorProto;

/** Observed value range of one activation tensor over the calibration images. */
export interface Range {
  min: number;
  max: number;
}

/** Options of {@link quantizeQdq}. */
export interface QdqOptions {
  /**
   * Largest |int8| of regular (GEMM) convolution weights. 63 by default, safe on every CPU: ONNX Runtime's
   * u8s8 kernels on x86 without VNNI add pairs of u8 x s8 products in int16 (VPMADDUBSW), which saturates
   * beyond 7 bits. With VNNI, 127 is exact and more accurate (the registry picks it there).
   */
  weightMax?: number;
  /** Largest |int8| of depthwise convolution weights (own kernel, no saturation): 127 by default. Grouped
   * convolutions with several input channels per group count as regular ones. */
  depthwiseMax?: number;
}

interface QParams {
  scale: number;
  zeroPoint: number;
}

const ACTIVATIONS = new Set(["Clip", "Relu"]);

function floatsOf(t: Tensor): Float32Array {
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  }
  return Float32Array.from(t.floatData ?? []);
}

function intAttr(node: Node, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.i === undefined || a.i === null ? fallback : Number(a.i);
}

/** uint8 affine parameters covering `r` and zero (so that zero is exact, as ONNX requires for padding). */
export function activationParams(r: Range): QParams {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

/**
 * Per-output-channel symmetric scales for `weights` (output channel first), each chosen among clipping
 * ratios 1.0 down to 0.5 of the channel's largest |w| to minimise the squared rounding error.
 */
export function weightScales(weights: Float32Array, channels: number, qmax: number): Float32Array {
  const per = weights.length / channels;
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const w = weights.subarray(c * per, (c + 1) * per);
    let absMax = 0;
    for (const v of w) absMax = Math.max(absMax, Math.abs(v));
    if (absMax === 0) {
      scales[c] = 1;
      continue;
    }
    let best = absMax / qmax;
    let bestError = Number.POSITIVE_INFINITY;
    for (let step = 0; step <= 50; step++) {
      const s = (absMax * (1 - step / 100)) / qmax;
      let error = 0;
      for (const v of w) error += (v - Math.max(-qmax, Math.min(qmax, Math.round(v / s))) * s) ** 2;
      if (error < bestError) {
        bestError = error;
        best = s;
      }
    }
    scales[c] = best;
  }
  return scales;
}

/**
 * Rewrites a float ONNX model (BatchNormalization already folded into Conv, as ONNX Runtime's basic
 * optimisation leaves it) into the QDQ format that ONNX Runtime fuses into QLinearConv / QLinearAdd:
 * int8 per-channel Conv weights, int32 biases, uint8 activations with the calibrated `ranges`. A Clip or
 * Relu right after a quantized Conv is folded into that Conv's output range (uint8 saturation does the
 * clipping). Add/Sum of quantized tensors is quantized; every other node stays float, fed through
 * DequantizeLinear.
 *
 * @param ranges value range of every node output (and of the graph input), as `calibrate` in calibrate.ts returns.
 * @throws Error when a tensor the rewrite needs has no range or a Conv weight is not an initializer.
 */
export function quantizeQdq(
  model: Uint8Array,
  ranges: ReadonlyMap<string, Range>,
  options: QdqOptions = {},
): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  const g = m.graph;
  if (!g?.node || !g.input?.[0]?.name) throw new Error("model has no graph");
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? "", t]));
  const graphOutputs = new Set((g.output ?? []).map((o) => o.name ?? ""));
  const producer = new Map<string, Node>();
  const consumers = new Map<string, number>();
  for (const n of g.node) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  }
  const rangeOf = (t: string): Range => {
    const r = ranges.get(t);
    if (!r) throw new Error(`no calibration range for tensor '${t}'`);
    return r;
  };

  const quantized = new Set<Node>();
  const folded = new Set<Node>();
  const alias = new Map<string, string>();
  const params = new Map<string, QParams>();
  const real = (t: string) => alias.get(t) ?? t;
  const isQuantized = (t: string) => {
    const p = producer.get(real(t));
    return p !== undefined && quantized.has(p);
  };
  for (const n of g.node) {
    const [input = "", ...rest] = n.input ?? [];
    const output = n.output?.[0] ?? "";
    if (n.opType === "Conv" && inits.has(rest[0] ?? "")) quantized.add(n);
    if (ACTIVATIONS.has(n.opType ?? "") && isQuantized(input) && consumers.get(input) === 1) {
      let lo = 0;
      let hi = Number.POSITIVE_INFINITY;
      if (n.opType === "Clip") {
        lo = rest[0] ? (floatsOf(inits.get(rest[0]) ?? {})[0] ?? Number.NaN) : Number.NEGATIVE_INFINITY;
        hi = rest[1] ? (floatsOf(inits.get(rest[1]) ?? {})[0] ?? Number.NaN) : Number.POSITIVE_INFINITY;
      }
      if (!Number.isNaN(lo) && !Number.isNaN(hi) && lo <= 0 && !graphOutputs.has(output)) {
        const r = rangeOf(output);
        params.set(input, activationParams({ min: Math.max(lo, r.min), max: Math.min(hi, r.max) }));
        folded.add(n);
        alias.set(output, input);
      }
    }
    if ((n.opType === "Add" || n.opType === "Sum") && (n.input ?? []).length === 2) {
      if ((n.input ?? []).every(isQuantized)) quantized.add(n);
    }
  }

  const needQ = new Set<string>();
  for (const n of quantized) {
    needQ.add(n.output?.[0] ?? "");
    const ins = n.opType === "Conv" ? [n.input?.[0] ?? ""] : (n.input ?? []);
    for (const i of ins) needQ.add(real(i));
  }
  for (const t of needQ) if (!params.has(t)) params.set(t, activationParams(rangeOf(t)));

  const nodes: Node[] = [];
  const added: Tensor[] = [];
  let dqCount = 0;
  const constant = (name: string, dataType: number, data: ArrayBufferView, dims: number[]) => {
    added.push({ name, dataType, dims, rawData: bytesOf(data) });
    return name;
  };
  const quantize = (t: string) => {
    const p = params.get(t) as QParams;
    const scale = constant(`${t}/q_scale`, DTYPE.FLOAT, new Float32Array([p.scale]), []);
    const zp = constant(`${t}/q_zero`, DTYPE.UINT8, new Uint8Array([p.zeroPoint]), []);
    nodes.push({ opType: "QuantizeLinear", name: `${t}/Q`, input: [t, scale, zp], output: [`${t}/q`] });
  };
  const dequantize = (t: string) => {
    const out = `${t}/dq_${dqCount++}`;
    nodes.push({
      opType: "DequantizeLinear",
      name: `${out}/DQ`,
      input: [`${t}/q`, `${t}/q_scale`, `${t}/q_zero`],
      output: [out],
    });
    return out;
  };
  const perChannel = (
    name: string,
    dataType: number,
    data: ArrayBufferView,
    dims: number[],
    s: Float32Array,
  ) => {
    const zeros = dataType === DTYPE.INT8 ? new Int8Array(s.length) : new Int32Array(s.length);
    constant(name, dataType, data, dims);
    constant(`${name}_scale`, DTYPE.FLOAT, s, [s.length]);
    constant(`${name}_zero`, dataType, zeros, [s.length]);
    nodes.push({
      opType: "DequantizeLinear",
      name: `${name}/DQ`,
      input: [name, `${name}_scale`, `${name}_zero`],
      output: [`${name}/dq`],
      attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
    });
    return `${name}/dq`;
  };

  const graphInput = g.input[0].name;
  if (needQ.has(graphInput)) quantize(graphInput);
  for (const n of g.node) {
    if (folded.has(n)) continue;
    const ins = (n.input ?? []).map(real);
    if (quantized.has(n) && n.opType === "Conv") {
      const [x = "", wName = "", bName] = ins;
      const wTensor = inits.get(wName) as Tensor;
      const w = floatsOf(wTensor);
      const dims = (wTensor.dims ?? []).map(Number);
      const channels = dims[0] ?? 1;
      const per = w.length / channels;
      const depthwise = intAttr(n, "group", 1) > 1 && dims[1] === 1;
      const qmax = depthwise ? (options.depthwiseMax ?? 127) : (options.weightMax ?? 63);
      const ws = weightScales(w, channels, qmax);
      const wq = Int8Array.from(w, (v, i) =>
        Math.max(-qmax, Math.min(qmax, Math.round(v / ws[Math.floor(i / per)]))),
      );
      const inputs = [dequantize(x), perChannel(`${n.output?.[0]}/weight_int8`, DTYPE.INT8, wq, dims, ws)];
      if (bName) {
        const xs = (params.get(x) as QParams).scale;
        const bs = Float32Array.from(ws, (s) => s * xs);
        const b = floatsOf(inits.get(bName) ?? {});
        const bq = Int32Array.from(b, (v, i) => Math.round(v / bs[i]));
        inputs.push(perChannel(`${n.output?.[0]}/bias_int32`, DTYPE.INT32, bq, [channels], bs));
      }
      nodes.push({ ...n, input: inputs });
    } else if (quantized.has(n)) {
      nodes.push({ ...n, opType: "Add", input: ins.map(dequantize) });
    } else {
      nodes.push({ ...n, input: ins.map((t) => (isQuantized(t) ? dequantize(t) : t)) });
    }
    const out = n.output?.[0] ?? "";
    if (needQ.has(out)) quantize(out);
  }
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  g.node = nodes;
  g.initializer = [...(g.initializer ?? []).filter((t) => used.has(t.name ?? "")), ...added];
  return onnx.ModelProto.encode(m).finish();
}
