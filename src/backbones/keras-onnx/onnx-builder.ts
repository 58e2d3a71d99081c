import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { uniqueNamer } from "../../lib/names.js";

const { onnx } = onnxProto;

/** An ONNX node attribute value, tagged with its protobuf type. */
export type Attr = { int: number } | { float: number } | { ints: number[] } | { floats: number[] };

/** A graph input or output: name, element type float32, and dims (a string is a symbolic dim). */
export interface GraphIO {
  name: string;
  dims: (number | string)[];
}

const ATTR = onnx.AttributeProto.AttributeType;
const DTYPE = onnx.TensorProto.DataType;

function encodeAttr(name: string, attr: Attr): OnnxTypes.IAttributeProto {
  if ("int" in attr) return { name, type: ATTR.INT, i: attr.int };
  if ("float" in attr) return { name, type: ATTR.FLOAT, f: attr.float };
  if ("ints" in attr) return { name, type: ATTR.INTS, ints: attr.ints };
  return { name, type: ATTR.FLOATS, floats: attr.floats };
}

/** A copy of a typed array's bytes (little-endian on every platform Node runs on), for raw_data. */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

function valueInfo(io: GraphIO): OnnxTypes.IValueInfoProto {
  const dim = io.dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d }));
  return { name: io.name, type: { tensorType: { elemType: DTYPE.FLOAT, shape: { dim } } } };
}

/**
 * Accumulates ONNX nodes and initializers (weights as little-endian raw_data) and encodes them into a
 * ModelProto (IR version 8, default-domain opset 13). Value names are made unique with {@link fresh}.
 */
export class OnnxGraphBuilder {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: OnnxTypes.ITensorProto[] = [];
  /** Reserves and returns a value name based on `base` that no other value of the graph uses. */
  readonly fresh = uniqueNamer(new Set<string>());

  /** Adds a float32 initializer and returns its name. */
  floatConst(base: string, data: Float32Array | number[], dims: number[]): string {
    const values = data instanceof Float32Array ? data : Float32Array.from(data);
    const size = dims.reduce((a, b) => a * b, 1);
    if (values.length !== size)
      throw new Error(`Initializer ${base}: ${values.length} values for dims [${dims}]`);
    const name = this.fresh(base);
    this.initializers.push({ name, dims, dataType: DTYPE.FLOAT, rawData: bytesOf(values) });
    return name;
  }

  /** Adds a 1-D int64 initializer (shapes, pads) and returns its name. */
  int64Const(base: string, data: number[]): string {
    const name = this.fresh(base);
    const values = BigInt64Array.from(data, (v) => BigInt(v));
    this.initializers.push({ name, dims: [data.length], dataType: DTYPE.INT64, rawData: bytesOf(values) });
    return name;
  }

  /**
   * Appends a node and returns the name of its (single) output: `output` verbatim when given (reserve it
   * first with {@link fresh}), else a fresh name based on `base`. An empty input name means an omitted input.
   */
  node(
    op: string,
    inputs: string[],
    base: string,
    attrs: Record<string, Attr> = {},
    output?: string,
  ): string {
    const out = output ?? this.fresh(base);
    const attribute = Object.entries(attrs).map(([k, v]) => encodeAttr(k, v));
    this.nodes.push({
      opType: op,
      input: inputs,
      output: [out],
      name: this.fresh(`${base}/${op}`),
      attribute,
    });
    return out;
  }

  /** Encodes the graph into a serialized ModelProto with one or several (float32) inputs and outputs. */
  build(graphName: string, input: GraphIO | GraphIO[], output: GraphIO | GraphIO[]): Uint8Array {
    const inputs = Array.isArray(input) ? input : [input];
    const outputs = Array.isArray(output) ? output : [output];
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 13 }],
      producerName: "keras-onnx",
      producerVersion: "1",
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: inputs.map(valueInfo),
        output: outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
