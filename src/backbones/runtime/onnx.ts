import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { openOnnxWorkerPool } from "./onnx-pool.js";
import { checkModelIo, createSession, sessionOptions } from "./onnx-session.js";
import { checkFeatureCount, imageDims } from "./shapes.js";
import type { BackboneSession, RuntimeName, RuntimeOptions } from "./types.js";

/** Input geometry the session feeds: NCHW `[n, 3, s, s]` or NHWC `[n, s, s, 3]`. */
export interface OnnxInputSpec {
  layout: "NCHW" | "NHWC";
  inputSize: number;
  inputName?: string;
  outputName: string;
  featureDim: number;
}

/**
 * Whether onnxruntime-node's CUDA execution provider is installed: its shared library sits beside the
 * binding (installed with ONNXRUNTIME_NODE_INSTALL=cuda12). Whether a GPU answers is known only when a
 * session starts.
 */
export function cudaInstalled(): boolean {
  if (!ort.listSupportedBackends().some((b) => b.name === "cuda")) return false;
  const dist = path.dirname(createRequire(import.meta.url).resolve("onnxruntime-node"));
  const dir = path.join(dist, "..", "bin", "napi-v6", process.platform, process.arch);
  return existsSync(path.join(dir, "libonnxruntime_providers_cuda.so"));
}

/**
 * Opens an ONNX model on ONNX Runtime, preferring its CUDA execution provider when asked for (`auto` or
 * `cuda`) and present, and falling back to the CPU with one log line when it is not. On the CPU, with
 * `options.workers` > 0, the model runs in that many worker threads ({@link openOnnxWorkerPool}).
 */
export async function openOnnxSession(
  model: string | Uint8Array,
  spec: OnnxInputSpec,
  options: RuntimeOptions,
): Promise<BackboneSession> {
  let session: ort.InferenceSession | undefined;
  let runtime: RuntimeName = "onnxruntime-cpu";
  if (options.executionProvider !== "cpu") {
    if (cudaInstalled()) {
      try {
        session = await createSession(model, "cuda", options);
        runtime = "onnxruntime-cuda";
      } catch (err) {
        options.log?.(
          "warn",
          `CUDA execution provider failed to start, using CPU: ${(err as Error).message}`,
        );
      }
    } else {
      options.log?.(
        options.executionProvider === "cuda" ? "warn" : "info",
        "CUDA execution provider not installed (onnxruntime-node CUDA add-on missing), using CPU",
      );
    }
  }
  if (session) return wrapSession(session, spec, runtime, options.microBatch ?? 0);
  const workers = options.workers ?? 0;
  if (workers > 0) {
    const threads = options.threads > 0 ? options.threads : 1;
    const pool = await openOnnxWorkerPool(model, {
      workers,
      sessionOptions: sessionOptions("cpu", { ...options, threads }),
      microBatch: options.microBatch ?? 0,
      inputName: spec.inputName,
      outputName: spec.outputName,
      imageDims: imageDims(spec.layout, spec.inputSize),
      featureDim: spec.featureDim,
    });
    options.log?.("info", `ONNX Runtime CPU: ${workers} worker threads, ${threads} intra-op thread(s) each`);
    return pool;
  }
  return wrapSession(await createSession(model, "cpu", options), spec, runtime, options.microBatch ?? 0);
}

function wrapSession(
  session: ort.InferenceSession,
  spec: OnnxInputSpec,
  runtime: RuntimeName,
  microBatch: number,
): BackboneSession {
  const inputName = checkModelIo(spec, session.inputNames, session.outputNames);
  const s = spec.inputSize;
  const perImage = 3 * s * s;
  const slice = runtime === "onnxruntime-cpu" && microBatch > 0 ? microBatch : Number.POSITIVE_INFINITY;
  const runSlice = async (input: Float32Array, m: number, into: Float32Array, at: number) => {
    const dims = [m, ...imageDims(spec.layout, s)];
    const out = await session.run({ [inputName]: new ort.Tensor("float32", input, dims) }, [spec.outputName]);
    const result = out[spec.outputName];
    try {
      const values = result.data as Float32Array;
      checkFeatureCount(values, m, spec.outputName, spec.featureDim);
      into.set(values, at * spec.featureDim);
    } finally {
      result.dispose();
    }
  };
  return {
    runtime,
    async run(input, n) {
      const features = new Float32Array(n * spec.featureDim);
      for (let i = 0; i < n; i += slice) {
        const m = Math.min(slice, n - i);
        await runSlice(input.subarray(i * perImage, (i + m) * perImage), m, features, i);
      }
      return features;
    },
    release: () => session.release(),
  };
}
