import { Worker } from "node:worker_threads";
import type { InferenceSession } from "onnxruntime-node";
import { checkModelIo } from "./onnx-session.js";
import { checkFeatureCount } from "./shapes.js";
import type { BackboneSession } from "./types.js";

/** Options of {@link openOnnxWorkerPool}. */
export interface PoolOptions {
  /** Worker threads, each with its own session (at least 1). */
  workers: number;
  /** ONNX Runtime options of every worker's session (CPU). */
  sessionOptions: InferenceSession.SessionOptions;
  /** Largest batch one worker runs at once; a batch is split over the workers in slices up to this size. */
  microBatch: number;
  inputName?: string;
  outputName: string;
  /** Dimensions of one image in the model's input layout, e.g. `[224, 224, 3]`. */
  imageDims: number[];
  featureDim: number;
}

type Reply =
  | { ready: true; inputNames: string[]; outputNames: string[] }
  | { features: Float32Array; buffer: ArrayBuffer }
  | { error: string; buffer: ArrayBuffer }
  | { error: string; fatal: true };

interface Task {
  input: Float32Array;
  m: number;
  resolve: (features: Float32Array) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  inputNames: string[];
  outputNames: string[];
  /** Input buffer, handed to the thread with each slice and back with its answer (absent meanwhile). */
  buffer?: ArrayBuffer;
  busy?: Task;
  exited?: Error;
}

const WORKER_URL = new URL("./onnx-worker.mjs", import.meta.url);

/**
 * Runs an ONNX model on the CPU in several worker threads, each with its own session: a batch is cut into
 * slices, and each idle worker takes the next one. Unlike one session that splits every operator over the
 * cores, the workers never wait on each other, and inference leaves the main thread free for image
 * decoding. Features are the same as a single session's, image for image.
 */
export async function openOnnxWorkerPool(
  model: string | Uint8Array,
  options: PoolOptions,
): Promise<BackboneSession> {
  const { featureDim, imageDims } = options;
  const perImage = imageDims.reduce((a, b) => a * b, 1);
  const queue: Task[] = [];
  const slots: Slot[] = [];

  const pump = () => {
    for (const slot of slots) {
      if (slot.busy || slot.exited) continue;
      const task = queue.shift();
      if (!task) return;
      const need = task.m * perImage;
      if (!slot.buffer || slot.buffer.byteLength < need * Float32Array.BYTES_PER_ELEMENT) {
        slot.buffer = new ArrayBuffer(need * Float32Array.BYTES_PER_ELEMENT);
      }
      const buffer = slot.buffer;
      slot.buffer = undefined;
      new Float32Array(buffer, 0, need).set(task.input.subarray(0, need));
      slot.busy = task;
      slot.worker.ref();
      slot.worker.postMessage({ m: task.m, buffer }, [buffer]);
    }
  };

  const stop = (slot: Slot, err: Error) => {
    slot.exited ??= err;
    slot.busy?.reject(err);
    slot.busy = undefined;
    if (slots.every((s) => s.exited)) for (const task of queue.splice(0)) task.reject(err);
  };

  const start = (): Promise<Slot> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, {
        workerData: {
          model,
          sessionOptions: options.sessionOptions,
          inputName: options.inputName,
          outputName: options.outputName,
          imageDims,
        },
      });
      const slot: Slot = { worker, inputNames: [], outputNames: [] };
      const fail = (err: Error) => {
        stop(slot, err);
        reject(err);
      };
      worker.on("error", fail);
      worker.on("exit", (code) => fail(new Error(`ONNX Runtime worker thread exited (code ${code})`)));
      worker.on("message", (msg: Reply) => {
        if ("ready" in msg) {
          Object.assign(slot, { inputNames: msg.inputNames, outputNames: msg.outputNames });
          worker.unref();
          resolve(slot);
          return;
        }
        if ("fatal" in msg) {
          fail(new Error(msg.error));
          void worker.terminate();
          return;
        }
        const task = slot.busy;
        slot.busy = undefined;
        slot.buffer = msg.buffer;
        worker.unref();
        if ("features" in msg) task?.resolve(msg.features);
        else task?.reject(new Error(msg.error));
        pump();
      });
    });

  const started = await Promise.allSettled(Array.from({ length: options.workers }, start));
  for (const s of started) if (s.status === "fulfilled") slots.push(s.value);
  try {
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    checkModelIo(options, slots[0].inputNames, slots[0].outputNames);
  } catch (err) {
    await Promise.all(slots.map((s) => s.worker.terminate()));
    throw err;
  }

  const runSlice = (input: Float32Array, m: number) =>
    new Promise<Float32Array>((resolve, reject) => {
      const live = slots.find((s) => !s.exited);
      if (!live) {
        reject(slots[0].exited);
        return;
      }
      queue.push({ input, m, resolve, reject });
      pump();
    });

  return {
    runtime: "onnxruntime-cpu",
    async run(input, n) {
      if (input.length < n * perImage) {
        throw new RangeError(`input holds ${input.length} values; ${n} images need ${n * perImage}`);
      }
      const features = new Float32Array(n * featureDim);
      const size = Math.max(1, Math.min(options.microBatch || n, Math.ceil(n / slots.length)));
      const parts: Promise<void>[] = [];
      for (let i = 0; i < n; i += size) {
        const m = Math.min(size, n - i);
        const at = i * featureDim;
        const slice = runSlice(input.subarray(i * perImage, (i + m) * perImage), m);
        parts.push(
          slice.then((values) => {
            checkFeatureCount(values, m, options.outputName, featureDim);
            features.set(values, at);
          }),
        );
      }
      const failure = (await Promise.allSettled(parts)).find((s) => s.status === "rejected");
      if (failure) throw failure.reason;
      return features;
    },
    async release() {
      for (const s of slots) s.exited ??= new Error("session released");
      for (const task of queue.splice(0)) task.reject(new Error("session released"));
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
