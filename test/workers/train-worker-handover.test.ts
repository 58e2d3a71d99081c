/**
 * Handover with the production lock settings (WORKER_LOCK_MS, WORKER_STALLED_INTERVAL_MS defaults): two
 * train workers on a busy machine; the one training is killed with SIGKILL and the other resumes the job
 * from its checkpoint within seconds. Until the kill, the job is never taken from its live worker (one
 * attempt). Real processes, real Redis, real photos.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "../../src/config.js";
import { startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";
import {
  assertHistoryEpochs,
  assertOneModelFor,
  createJob,
  epochsLogged,
  logLines,
  pollJob,
  range,
  stopWorker,
  uploadPhotos,
  waitCompleted,
  waitReady,
} from "./train-worker-lib.js";

const EPOCHS = 60;

test("SIGKILL with the default lock settings: the other worker resumes the job within about 10 s", {
  timeout: 300_000,
}, async (t) => {
  const { WORKER_LOCK_MS: lockMs, WORKER_STALLED_INTERVAL_MS: stalledMs } = loadConfig({});
  const stack = await startStack({
    WORKER_LOCK_MS: String(lockMs),
    WORKER_STALLED_INTERVAL_MS: String(stalledMs),
  });
  const workers: WorkerProcess[] = [];
  try {
    const datasetId = await uploadPhotos(stack, { train: 16, test: 4 }, 31);
    workers.push(stack.spawnWorker("train"), stack.spawnWorker("train"));
    await Promise.all(workers.map((w) => waitReady(w)));
    const jobId = await createJob(stack, datasetId, { epochs: EPOCHS, batchSize: 2, earlyStopping: null });
    const running = await pollJob(stack, jobId, (j) => j.history.length >= 3, ">= 3 epochs", {
      timeoutMs: 120_000,
    });
    assert.equal(running.attempts, 1);
    const [trainer, other] = epochsLogged(workers[0], jobId).length > 0 ? workers : [workers[1], workers[0]];
    trainer.child.kill("SIGKILL");
    const killed = Date.now();
    await trainer.exited;

    await waitFor(
      async () => (logLines(other).some((l) => l.msg === "resuming from checkpoint") ? true : undefined),
      120_000,
      "the other worker to resume the job",
    );
    const seconds = (Date.now() - killed) / 1000;
    t.diagnostic(
      `job resumed by the other worker ${seconds.toFixed(1)} s after SIGKILL (lock ${lockMs} ms, stalled check ${stalledMs} ms)`,
    );

    const done = await waitCompleted(stack, jobId, other, 180_000);
    assertHistoryEpochs(done.history, EPOCHS);
    const byTrainer = epochsLogged(trainer, jobId);
    const byOther = epochsLogged(other, jobId);
    assert.ok(
      byTrainer.every((e) => e < Math.min(...byOther)),
      `each epoch trained by one worker: ${byTrainer} / ${byOther}`,
    );
    assert.deepEqual(
      byOther,
      range(EPOCHS - byOther.length + 1, EPOCHS),
      "the other worker trained the rest",
    );
    assert.equal(done.attempts, 2, "one handover: no false stall before or after");
    await assertOneModelFor(stack, jobId, done.modelId);
  } finally {
    for (const w of workers) await stopWorker(w);
    await stack.close();
  }
});
