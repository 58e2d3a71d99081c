/**
 * Entry point of one ONNX Runtime worker thread of an {@link OnnxWorkerPool}: opens its own CPU session
 * of the pool's model and runs the batches it is sent, one at a time.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import type { WorkerInit, WorkerReply, WorkerRequest } from "./onnx-pool.js";
import { createSession } from "./onnx-session.js";

const port = parentPort;
if (!port) throw new Error("onnx-worker runs as a worker thread only");
const init = workerData as WorkerInit;

try {
  const session = await createSession(init.model, "cpu", init.options);
  const inputName = init.inputName ?? session.inputNames[0];
  port.postMessage({
    ready: true,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
  } satisfies WorkerReply);
  port.on("message", async ({ id, data, dims }: WorkerRequest) => {
    try {
      const out = await session.run({ [inputName]: new ort.Tensor("float32", data, dims) }, [
        init.outputName,
      ]);
      const result = out[init.outputName];
      const features = (result.data as Float32Array).slice();
      result.dispose();
      port.postMessage({ id, features } satisfies WorkerReply, [features.buffer]);
    } catch (err) {
      port.postMessage({ id, error: (err as Error).message } satisfies WorkerReply);
    }
  });
} catch (err) {
  port.postMessage({ error: (err as Error).message } satisfies WorkerReply);
}
