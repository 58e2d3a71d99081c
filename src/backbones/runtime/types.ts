/** Where a backbone runs. */
export type RuntimeName =
  | "onnxruntime-cpu"
  | "onnxruntime-cuda"
  | "tfjs-tensorflow"
  | "tfjs-wasm"
  | "tfjs-cpu";

/** A loaded model that maps a batch of preprocessed images to feature vectors. */
export interface BackboneSession {
  readonly runtime: RuntimeName;
  /**
   * Runs a batch. `input` holds `n` images in the manifest's layout; the result holds `n * featureDim`
   * floats (a fresh array the caller owns).
   */
  run(input: Float32Array, n: number): Promise<Float32Array>;
  /** Frees native resources. */
  release(): Promise<void>;
}

/** Options shared by the runtimes. */
export interface RuntimeOptions {
  /** `auto` tries CUDA first and falls back to CPU; `cuda` too, but logs the fallback as a warning. */
  executionProvider: "auto" | "cpu" | "cuda";
  /** Intra-op threads for ONNX Runtime; 0 lets it choose. */
  threads: number;
  /**
   * Whether ONNX Runtime's idle worker threads spin (default true). Off, they yield the core at once,
   * which helps when image decoding shares the same cores.
   */
  spinning?: boolean;
  /**
   * Largest batch one ONNX Runtime CPU run takes; a bigger batch runs in slices of this size, whose
   * activations stay in the CPU's cache (0: never split). Ignored on CUDA, which wants whole batches.
   */
  microBatch?: number;
  /**
   * CPU only: worker threads that each run their own session on slices of a batch, in parallel (0: one
   * session on the calling thread). Each worker's session uses `threads` intra-op threads, 1 when 0.
   */
  workers?: number;
  /** Receives one line when CUDA was asked for but is not usable. */
  log?: (level: "info" | "warn", msg: string) => void;
}
