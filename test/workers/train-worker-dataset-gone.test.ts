/**
 * A dataset removed from disk under a running job (by hand, or lost: the API itself refuses with 409
 * DATASET_IN_USE): the next images the job reads fail, and the job fails once as DATASET_DELETED, not as
 * NO_USABLE_IMAGES or a generic error after warnings; no model is written. Real worker process, real photos.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { startStack, type WorkerProcess } from "../helpers/stack.js";
import { createJob, modelFolders, pollJob, stopWorker, uploadPhotos } from "./train-worker-lib.js";

test("a dataset removed while its job trains on augmented views fails the job as DATASET_DELETED", {
  timeout: 300_000,
}, async () => {
  const stack = await startStack();
  let worker: WorkerProcess | undefined;
  try {
    const datasetId = await uploadPhotos(stack, { train: 12, test: 2 }, 41);
    worker = stack.spawnWorker("train");
    // Each epoch reads the images again for its own augmented view (augmentViews = epochs).
    const jobId = await createJob(stack, datasetId, {
      epochs: 30,
      batchSize: 4,
      augment: true,
      augmentViews: 30,
      earlyStopping: null,
    });
    await pollJob(stack, jobId, (j) => j.history.length >= 1, ">= 1 epoch", { worker, timeoutMs: 120_000 });
    await rm(path.join(stack.dataDir, "datasets", datasetId), { recursive: true });
    const failed = await pollJob(stack, jobId, (j) => j.state === "failed", "state failed", {
      worker,
      timeoutMs: 120_000,
    });
    assert.equal(failed.error?.code, "DATASET_DELETED", JSON.stringify(failed.error));
    assert.match(failed.error?.message ?? "", new RegExp(datasetId));
    assert.equal(failed.attempts, 1);
    assert.equal(failed.modelId, undefined);
    assert.deepEqual(await modelFolders(stack), []);
  } finally {
    await stopWorker(worker);
    await stack.close();
  }
});
