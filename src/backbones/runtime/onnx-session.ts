import * as ort from "onnxruntime-node";
import type { RuntimeOptions } from "./types.js";

/** ONNX Runtime session options for `provider` (CUDA falls back to CPU per operator) and the runtime options. */
export function sessionOptions(
  provider: "cpu" | "cuda",
  { threads, spinning }: Pick<RuntimeOptions, "threads" | "spinning">,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: provider === "cuda" ? ["cuda", "cpu"] : ["cpu"],
    graphOptimizationLevel: "all",
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
    interOpNumThreads: 1,
    executionMode: "sequential",
    extra: { session: { intra_op: { allow_spinning: spinning === false ? "0" : "1" } } },
  };
}

/** Opens an ONNX Runtime session with {@link sessionOptions}. */
export async function createSession(
  model: string | Uint8Array,
  provider: "cpu" | "cuda",
  options: Pick<RuntimeOptions, "threads" | "spinning">,
): Promise<ort.InferenceSession> {
  const opts = sessionOptions(provider, options);
  return typeof model === "string"
    ? ort.InferenceSession.create(model, opts)
    : ort.InferenceSession.create(model, opts);
}

/**
 * Checks that a model has the input and output a backbone manifest names, and returns the input to feed
 * (the named one, else the model's first).
 */
export function checkModelIo(
  spec: { inputName?: string; outputName: string },
  inputNames: readonly string[],
  outputNames: readonly string[],
): string {
  const inputName = spec.inputName ?? inputNames[0];
  if (!inputNames.includes(inputName)) {
    throw new Error(`model has no input '${inputName}' (inputs: ${inputNames.join(", ")})`);
  }
  if (!outputNames.includes(spec.outputName)) {
    throw new Error(`model has no output '${spec.outputName}' (outputs: ${outputNames.join(", ")})`);
  }
  return inputName;
}
