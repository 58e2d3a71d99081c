import { tf } from "../../lib/tfjs.js";
import { type KerasLayer, type KTensor, UnsupportedLayerError } from "./common.js";
import { flattenChannelsLast, LAYER_EMITTERS } from "./layers.js";
import { OnnxGraphBuilder } from "./onnx-builder.js";

export { UnsupportedLayerError } from "./common.js";

/** Options of {@link compileKerasToOnnx}. */
export interface CompileKerasOptions {
  /** Layer whose (flattened) output becomes the `features` output; default: the model's last layer. */
  outputLayer?: string;
  /**
   * Layers whose outputs are global-average-pooled and appended, in this order, after the output layer's
   * features (multi-depth features: earlier layers keep texture and shape cues the last one has lost).
   */
  pooledLayers?: string[];
}

/** A compiled model: the serialized ONNX ModelProto and what its input and output look like. */
export interface CompiledKerasOnnx {
  /** ONNX model (opset 13): input `input` [N, H, W, C] float32, output `features` [N, featureDim]. */
  onnx: Uint8Array;
  /** [H, W, C] of the Keras model's input. */
  inputShape: [number, number, number];
  /** Size of the flattened output of the output layer. */
  featureDim: number;
  /** Name of the layer the features come from. */
  outputLayer: string;
}

function staticShape(layer: KerasLayer, t: tf.SymbolicTensor): number[] {
  const dims = t.shape.slice(1);
  if (!dims.every((d): d is number => typeof d === "number" && d > 0)) {
    throw new UnsupportedLayerError(layer, `output shape [${t.shape}] is not static (besides the batch dim)`);
  }
  return dims;
}

class GraphWalker {
  private readonly memo = new Map<number, KTensor>();

  constructor(
    private readonly b: OnnxGraphBuilder,
    private readonly bindings: Map<number, KTensor>,
  ) {}

  emit(t: tf.SymbolicTensor): KTensor {
    const hit = this.memo.get(t.id);
    if (hit) return hit;
    const layer = t.sourceLayer;
    const cls = layer.getClassName();
    let out: KTensor;
    if (cls === "InputLayer") {
      const bound = this.bindings.get(t.id);
      if (!bound)
        throw new UnsupportedLayerError(layer, "the output depends on an input other than the model's");
      out = bound;
    } else if (layer instanceof tf.LayersModel) {
      out = this.nested(layer, t);
    } else {
      const emitter = LAYER_EMITTERS[cls];
      if (!emitter) throw new UnsupportedLayerError(layer, `layer class ${cls} is not supported`);
      const inputs = t.inputs.map((i) => this.emit(i));
      const shape = staticShape(layer, t);
      const config = layer.getConfig() as Record<string, unknown>;
      out = { name: emitter({ b: this.b, layer, config, inputs, outShape: shape }), shape };
    }
    this.memo.set(t.id, out);
    return out;
  }

  private nested(model: tf.LayersModel, t: tf.SymbolicTensor): KTensor {
    if (model.inputs.length !== t.inputs.length) {
      throw new UnsupportedLayerError(model, `nested model called on ${t.inputs.length} inputs`);
    }
    const bindings = new Map(model.inputs.map((inner, i) => [inner.id, this.emit(t.inputs[i])]));
    return new GraphWalker(this.b, bindings).emit(model.outputs[t.outputTensorIndex ?? 0]);
  }
}

function outputTensor(model: tf.LayersModel, name: string | undefined): [string, tf.SymbolicTensor] {
  const layer =
    name === undefined ? model.layers[model.layers.length - 1] : model.layers.find((l) => l.name === name);
  if (!layer) throw new Error(`Model '${model.name}' has no layer '${name}'`);
  const out = layer.output;
  if (Array.isArray(out))
    throw new UnsupportedLayerError(layer, `the output layer has ${out.length} outputs`);
  return [layer.name, out];
}

/**
 * Compiles the frozen inference graph of a Keras-layers TF.js model (functional or Sequential, nested
 * models inlined) up to `options.outputLayer` into an ONNX opset-13 model whose input `input` is
 * NHWC float32 `[N, H, W, C]` like the Keras model's, and whose output `features` is the output layer's
 * value flattened in channels-last order (`[N, D]`). Internally the graph runs NCHW; weights are read from
 * the loaded layers. Only the layers the output depends on are emitted.
 *
 * @throws UnsupportedLayerError naming the layer and its class for layers or configs it cannot compile.
 */
export function compileKerasToOnnx(
  model: tf.LayersModel,
  options: CompileKerasOptions = {},
): CompiledKerasOnnx {
  if (model.inputs.length !== 1)
    throw new Error(`Model '${model.name}' has ${model.inputs.length} inputs, not 1`);
  const input = model.inputs[0];
  const dims = input.shape.slice(1);
  if (dims.length !== 3 || !dims.every((d): d is number => typeof d === "number" && d > 0)) {
    throw new Error(`Model '${model.name}' input shape [${input.shape}] is not a static [N, H, W, C]`);
  }
  if (input.dtype !== "float32")
    throw new Error(`Model '${model.name}' input dtype ${input.dtype} is not float32`);
  const [outputLayer, target] = outputTensor(model, options.outputLayer);

  const b = new OnnxGraphBuilder();
  b.fresh("input");
  b.fresh("features");
  const nchw = b.node("Transpose", ["input"], "input_nchw", { perm: { ints: [0, 3, 1, 2] } });
  const walker = new GraphWalker(b, new Map([[input.id, { name: nchw, shape: dims }]]));
  const out = walker.emit(target);
  const pooled = (options.pooledLayers ?? []).map((name) => {
    const [layerName, t] = outputTensor(model, name);
    const x = walker.emit(t);
    if (x.shape.length !== 3) throw new Error(`Cannot pool layer '${layerName}': rank-${x.shape.length + 1}`);
    const gap = b.node("GlobalAveragePool", [x.name], `${layerName}/pool`);
    return { name: b.node("Flatten", [gap], `${layerName}/pooled`, { axis: { int: 1 } }), dim: x.shape[2] };
  });
  let featureDim = out.shape.reduce((a, c) => a * c, 1);
  if (pooled.length === 0) {
    flattenChannelsLast(b, out, "features", "features");
  } else {
    const last = flattenChannelsLast(b, out, "features/last");
    b.node("Concat", [last, ...pooled.map((p) => p.name)], "features", { axis: { int: 1 } }, "features");
    featureDim += pooled.reduce((a, p) => a + p.dim, 0);
  }
  const onnx = b.build(
    model.name,
    { name: "input", dims: ["N", ...dims] },
    { name: "features", dims: ["N", featureDim] },
  );
  return { onnx, inputShape: [dims[0], dims[1], dims[2]], featureDim, outputLayer };
}
