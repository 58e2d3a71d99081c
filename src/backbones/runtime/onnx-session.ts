import * as ort from "onnxruntime-node";
import type { RuntimeOptions } from "./types.js";

/** Opens an ONNX Runtime session on `provider` (CUDA falls back to CPU per operator) with the runtime options. */
export async function createSession(
  model: string | Uint8Array,
  provider: "cpu" | "cuda",
  { threads, spinning }: Pick<RuntimeOptions, "threads" | "spinning">,
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
