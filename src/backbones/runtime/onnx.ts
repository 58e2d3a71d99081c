import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import * as ort from "onnxruntime-node";
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

async function createSession(
  model: string | Uint8Array,
  provider: "cpu" | "cuda",
  { threads, spinning }: RuntimeOptions,
): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: provider === "cuda" ? ["cuda", "cpu"] : ["cpu"],
    graphOptimizationLevel: "all",
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
    interOpNumThreads: 1,
    executionMode: "sequential",
    extra: { session: { intra_op: { allow_spinning: spinning === false ? "0" : "1" } } },
  };
  return typeof model === "string"
    ? ort.InferenceSession.create(model, options)
    : ort.InferenceSession.create(model, options);
}

/**
 * Opens an ONNX model on ONNX Runtime, preferring its CUDA execution provider when asked for (`auto` or
 * `cuda`) and present, and falling back to the CPU with one log line when it is not.
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
  session ??= await createSession(model, "cpu", options);
  return wrapSession(session, spec, runtime);
}

function wrapSession(
  session: ort.InferenceSession,
  spec: OnnxInputSpec,
  runtime: RuntimeName,
): BackboneSession {
  const inputName = spec.inputName ?? session.inputNames[0];
  if (!session.inputNames.includes(inputName)) {
    throw new Error(`model has no input '${inputName}' (inputs: ${session.inputNames.join(", ")})`);
  }
  if (!session.outputNames.includes(spec.outputName)) {
    throw new Error(`model has no output '${spec.outputName}' (outputs: ${session.outputNames.join(", ")})`);
  }
  const s = spec.inputSize;
  return {
    runtime,
    async run(input, n) {
      const dims = spec.layout === "NCHW" ? [n, 3, s, s] : [n, s, s, 3];
      const size = n * 3 * s * s;
      const data = input.length === size ? input : input.subarray(0, size);
      const tensor = new ort.Tensor("float32", data, dims);
      const out = await session.run({ [inputName]: tensor }, [spec.outputName]);
      const result = out[spec.outputName];
      const values = result.data as Float32Array;
      if (values.length !== n * spec.featureDim) {
        throw new Error(
          `output '${spec.outputName}' has ${values.length / n} values per image, manifest says ${spec.featureDim}`,
        );
      }
      const copy = Float32Array.from(values);
      result.dispose();
      return copy;
    },
    release: () => session.release(),
  };
}
