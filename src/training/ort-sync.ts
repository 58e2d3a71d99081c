import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import * as ort from "onnxruntime-node";

interface NativeSession {
  loadModel(buffer: ArrayBufferLike, offset: number, length: number, options: object): void;
  run(
    feeds: Record<string, ort.Tensor>,
    fetches: Record<string, ort.Tensor | null>,
    options: object,
  ): Record<string, ort.Tensor>;
  dispose(): void;
}

interface NativeBinding {
  initOrt(): void;
  binding: { InferenceSession: new () => NativeSession };
}

let native: NativeBinding | undefined;

function loadBinding(): NativeBinding {
  if (!native) {
    const loaded = createRequire(import.meta.url)("onnxruntime-node/dist/binding.js") as NativeBinding;
    if (typeof loaded?.initOrt !== "function" || typeof loaded.binding?.InferenceSession !== "function") {
      throw new Error("unsupported onnxruntime-node version: its native binding has another shape");
    }
    loaded.initOrt();
    native = loaded;
  }
  return native;
}

/**
 * CPU session options for training: `threads` intra-op threads for MLAS (default: all cores), full graph
 * optimization, and idle threads that spin between runs only when `spinning` (measured no faster for training,
 * where JS work separates the runs, and it takes CPU from other jobs).
 */
export function trainingSessionOptions(
  threads = availableParallelism(),
  spinning = false,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    extra: { session: { intra_op: { allow_spinning: spinning ? "1" : "0" } } },
  };
}

/** A float32 tensor to feed or fetch: its data and dims. */
export interface Feed {
  data: Float32Array;
  dims: readonly number[];
}

/**
 * An ONNX Runtime CPU session with a synchronous `run`, so that synchronous APIs (evaluation, prediction)
 * can use it. It calls onnxruntime-node's native binding, which the public `InferenceSession.run` only
 * defers to the next turn of the event loop; a run blocks the event loop for its duration.
 */
export class SyncOrtSession {
  private session?: NativeSession;

  /** Loads a serialized ONNX model with `options` (default {@link trainingSessionOptions}). */
  constructor(model: Uint8Array, options: ort.InferenceSession.SessionOptions = trainingSessionOptions()) {
    const session = new (loadBinding().binding.InferenceSession)();
    session.loadModel(model.buffer, model.byteOffset, model.byteLength, options);
    this.session = session;
  }

  /**
   * Runs the model on float32 `feeds`; each named output is written into the preallocated `outputs` entry
   * when there is one (it must have the output's exact size), else returned in a new array.
   */
  run(feeds: Record<string, Feed>, outputs: Record<string, Feed | null>): Record<string, Float32Array> {
    if (!this.session) throw new Error("the ONNX Runtime session was released");
    const tensor = (f: Feed) => new ort.Tensor("float32", f.data, f.dims);
    const inputs = Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, tensor(f)]));
    const fetches = Object.fromEntries(Object.entries(outputs).map(([k, f]) => [k, f ? tensor(f) : null]));
    const result = this.session.run(inputs, fetches, {});
    return Object.fromEntries(
      Object.keys(outputs).map((k) => [k, outputs[k]?.data ?? (result[k].data as Float32Array)]),
    );
  }

  /** Frees the native session; later runs throw. */
  release(): void {
    this.session?.dispose();
    this.session = undefined;
  }
}
