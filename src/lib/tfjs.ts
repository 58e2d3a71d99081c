import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";

/** TF.js backends in order of preference. */
export type TfjsBackendName = "tensorflow" | "wasm" | "cpu";

const require = createRequire(import.meta.url);
let ready: Promise<TfjsBackendName> | undefined;

async function tryNative(pkg: string): Promise<boolean> {
  try {
    await import(pkg);
    return tf.findBackend("tensorflow") !== undefined && (await tf.setBackend("tensorflow"));
  } catch {
    return false;
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const dir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
    wasm.setWasmPaths(`${dir}${path.sep}`);
    return await tf.setBackend("wasm");
  } catch {
    return false;
  }
}

/**
 * Picks the TF.js backend once per process: tfjs-node-gpu, then tfjs-node (when installed), then wasm,
 * then the pure-JS cpu backend. A missing native package is never an error. `prefer` forces one.
 */
export function initTfjs(prefer?: TfjsBackendName): Promise<TfjsBackendName> {
  ready ??= (async () => {
    if (prefer === "cpu") {
      await tf.setBackend("cpu");
      return "cpu";
    }
    if (prefer !== "wasm") {
      for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
        if (await tryNative(pkg)) return "tensorflow";
      }
    }
    if (await tryWasm()) return "wasm";
    await tf.setBackend("cpu");
    return "cpu";
  })();
  return ready.then(async (name) => {
    await tf.ready();
    return name;
  });
}

export { tf };
