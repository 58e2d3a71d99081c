import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { checkModelIo } from "./onnx-session.js";
import type { BackboneSession, RuntimeOptions } from "./types.js";

/** What a worker thread is started with. */
export interface WorkerInit {
  model: string | Uint8Array;
  options: Pick<RuntimeOptions, "threads" | "spinning">;
  inputName?: string;
  outputName: string;
}

/** One batch for a worker thread. */
export interface WorkerRequest {
  id: number;
  data: Float32Array;
  dims: number[];
}

/** What a worker thread answers: once `ready` (or an open error), then one reply per request. */
export type WorkerReply =
  | { ready: true; inputNames: string[]; outputNames: string[] }
  | { id?: undefined; error: string }
  | { id: number; features: Float32Array }
  | { id: number; error: string };

/** Options of {@link openOnnxWorkerPool}. */
export interface PoolOptions {
  /** Worker threads, each with its own session (at least 1). */
  workers: number;
  /** Intra-op threads of each worker's session. */
  threads: number;
  spinning?: boolean;
  /** Largest batch one worker runs at once; a batch is split over the workers in slices up to this size. */
  microBatch: number;
  inputName?: string;
  outputName: string;
  /** Values per image in the model's input layout. */
  perImage: number;
  /** Dimensions of one image, e.g. `[224, 224, 3]`. */
  imageDims: number[];
  featureDim: number;
}

interface Slot {
  worker: Worker;
  inputNames: string[];
  outputNames: string[];
  queued: number;
  pending: Map<number, { resolve: (f: Float32Array) => void; reject: (e: Error) => void }>;
  exited?: Error;
}

const workerUrl = new URL(`./onnx-worker${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * A worker thread running the worker entry. Run from TypeScript sources, it registers tsx in the thread
 * first: tsx's `--import` hook does not reach worker threads (privatenumber/tsx#354).
 */
function spawnWorker(init: WorkerInit): Worker {
  if (!workerUrl.pathname.endsWith(".ts")) return new Worker(workerUrl, { workerData: init });
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const code = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(code, { eval: true, workerData: init });
}

function startWorker(init: WorkerInit): Promise<Slot> {
  const worker = spawnWorker(init);
  const slot: Slot = { worker, inputNames: [], outputNames: [], queued: 0, pending: new Map() };
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      slot.exited ??= err;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      reject(err);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`ONNX Runtime worker thread exited (code ${code})`)));
    worker.on("message", (msg: WorkerReply) => {
      if ("ready" in msg) {
        slot.inputNames = msg.inputNames;
        slot.outputNames = msg.outputNames;
        worker.unref();
        resolve(slot);
        return;
      }
      if (msg.id === undefined) {
        void worker.terminate();
        fail(new Error(msg.error));
        return;
      }
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (slot.pending.size === 0) worker.unref();
      if ("features" in msg) p.resolve(msg.features);
      else p.reject(new Error(msg.error));
    });
  });
}

/**
 * Runs an ONNX model on the CPU in several worker threads, each with its own session: a batch is cut into
 * slices that run in parallel, one per worker at a time. Unlike one session whose operators are split over
 * threads, the workers never wait on each other, and inference leaves the main thread free for image
 * decoding. Features are the same as a single session's, image for image.
 */
export async function openOnnxWorkerPool(
  model: string | Uint8Array,
  options: PoolOptions,
): Promise<BackboneSession> {
  const init: WorkerInit = {
    model,
    options: { threads: options.threads, spinning: options.spinning },
    inputName: options.inputName,
    outputName: options.outputName,
  };
  const started = await Promise.allSettled(Array.from({ length: options.workers }, () => startWorker(init)));
  const slots = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  try {
    if (failed) throw failed.reason;
    checkModelIo(options, slots[0].inputNames, slots[0].outputNames);
  } catch (err) {
    await Promise.all(slots.map((s) => s.worker.terminate()));
    throw err;
  }
  const { perImage, featureDim, imageDims } = options;
  let nextId = 0;

  const runSlice = (input: Float32Array, m: number): Promise<Float32Array> => {
    const live = slots.filter((s) => !s.exited);
    if (live.length === 0) return Promise.reject(slots[0].exited);
    const slot = live.reduce((a, b) => (b.queued < a.queued ? b : a));
    const id = nextId++;
    const data = input.slice();
    slot.queued += m;
    return new Promise<Float32Array>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage({ id, data, dims: [m, ...imageDims] } satisfies WorkerRequest, [data.buffer]);
    }).finally(() => {
      slot.queued -= m;
    });
  };

  return {
    runtime: "onnxruntime-cpu",
    async run(input, n) {
      const features = new Float32Array(n * featureDim);
      const size = Math.max(1, Math.min(options.microBatch || n, Math.ceil(n / slots.length)));
      const parts: Promise<void>[] = [];
      for (let i = 0; i < n; i += size) {
        const m = Math.min(size, n - i);
        const at = i;
        parts.push(
          runSlice(input.subarray(i * perImage, (i + m) * perImage), m).then((values) => {
            if (values.length !== m * featureDim) {
              throw new Error(
                `output '${options.outputName}' has ${values.length / m} values per image, manifest says ${featureDim}`,
              );
            }
            features.set(values, at * featureDim);
          }),
        );
      }
      const settled = await Promise.allSettled(parts);
      const failure = settled.find((s) => s.status === "rejected");
      if (failure) throw failure.reason;
      return features;
    },
    async release() {
      for (const s of slots) s.exited ??= new Error("session released");
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
