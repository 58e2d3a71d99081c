// One ONNX Runtime worker thread of the pool in onnx-pool.ts: opens its own session of the pool's model
// and runs the slices the pool sends, one at a time, handing each input buffer back for the next slice.
// Plain JavaScript on purpose: tsx's --import hook does not reach worker threads (privatenumber/tsx#354),
// and registering tsx in every thread would cost each one about 35 MB.
import { parentPort, workerData } from "node:worker_threads";
import * as ort from "onnxruntime-node";

const { model, sessionOptions, inputName, outputName, imageDims } = workerData;
const perImage = imageDims.reduce((a, b) => a * b, 1);

try {
  const session = await ort.InferenceSession.create(model, sessionOptions);
  const input = inputName ?? session.inputNames[0];
  parentPort.postMessage({
    ready: true,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
  });
  parentPort.on("message", async ({ m, buffer }) => {
    try {
      const data = new Float32Array(buffer, 0, m * perImage);
      const out = await session.run({ [input]: new ort.Tensor("float32", data, [m, ...imageDims]) }, [
        outputName,
      ]);
      const result = out[outputName];
      const features = result.data.slice();
      result.dispose();
      parentPort.postMessage({ features, buffer }, [features.buffer, buffer]);
    } catch (err) {
      parentPort.postMessage({ error: err.message, buffer }, [buffer]);
    }
  });
} catch (err) {
  parentPort.postMessage({ error: err.message, fatal: true });
}
