/**
 * A training worker whose disk fills up: the job fails once with INSUFFICIENT_STORAGE (not retried, no
 * model), the worker process lives, and once space is freed the same worker trains the next job. DATA_DIR
 * is a real tmpfs of a few MiB, filled by the test; the worker is a real process.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { mountSmallDisk } from "../helpers/small-disk.js";
import { startStack, type WorkerProcess } from "../helpers/stack.js";
import {
  alive,
  assertOneModelFor,
  createJob,
  getJob,
  modelFolders,
  pollJob,
  stopWorker,
  uploadPhotos,
  waitCompleted,
} from "./train-worker-lib.js";

const MiB = 1024 ** 2;
const JOB = { epochs: 2, batchSize: 4, earlyStopping: null };

test("a full disk fails the job once with INSUFFICIENT_STORAGE; the worker lives and trains the next job", {
  timeout: 300_000,
}, async () => {
  const disk = await mountSmallDisk(96 * MiB);
  const stack = await startStack({ MIN_FREE_DISK_MB: "0" }, { dataDir: disk.dir });
  let worker: WorkerProcess | undefined;
  try {
    const warm = await uploadPhotos(stack, { train: 6, test: 2 }, 21);
    const fresh = await uploadPhotos(stack, { train: 12, test: 2 }, 22);
    worker = stack.spawnWorker("train");
    const first = await createJob(stack, warm, JOB);
    await waitCompleted(stack, first, worker, 180_000);
    const models = await modelFolders(stack);

    await disk.fill(32 * 1024);
    const starved = await createJob(stack, fresh, JOB);
    const failed = await pollJob(stack, starved, (j) => j.state === "failed", "state failed", {
      worker,
      timeoutMs: 120_000,
    });
    assert.equal(failed.error?.code, "INSUFFICIENT_STORAGE", JSON.stringify(failed.error));
    assert.match(failed.error?.message ?? "", /disk is full/);
    assert.equal((await getJob(stack, starved)).attempts, 1, "a full disk is not retried");
    const [queued] = await stack.queues.jobs.getJobs(["failed"]);
    assert.equal(queued?.attemptsMade, 1);
    assert.ok(alive(worker), `the worker lives:\n${worker.output().slice(-2000)}`);
    assert.deepEqual(await modelFolders(stack), models, "the failed job wrote no model");

    await disk.unfill();
    const next = await createJob(stack, fresh, JOB);
    const done = await waitCompleted(stack, next, worker, 180_000);
    await assertOneModelFor(stack, next, done.modelId, models);
    assert.ok(alive(worker));
  } finally {
    await stopWorker(worker);
    await stack.close();
    await disk.close();
  }
});
