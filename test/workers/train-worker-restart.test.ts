/**
 * A training job survives its worker: killed outright (SIGKILL: BullMQ hands the stalled job to another
 * worker, which resumes from the last checkpoint) or stopped politely (SIGTERM: the epoch finishes, is
 * checkpointed, and the job goes back to the queue). Real worker processes, real Redis, real photos.
 */
import assert from "node:assert/strict";
import { cp } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import request from "supertest";
import { newJobId } from "../../src/jobs/service.js";
import { loadCheckpoint } from "../../src/training/checkpoint.js";
import { type Stack, startStack, type WorkerProcess } from "../helpers/stack.js";
import {
  assertHistoryEpochs,
  assertOneModelFor,
  closeStack,
  createJob,
  epochsLogged,
  exitWithin,
  logLines,
  modelFolders,
  pollJob,
  range,
  stopWorker,
  uploadPhotos,
  waitCompleted,
} from "./train-worker-lib.js";

/**
 * 2 classes x 16 training photos, batch size 2: 16 steps per epoch, about 0.2 s an epoch on two busy
 * cores (the first epoch also extracts features, about 1 s). 40 epochs leave several seconds to act on.
 */
const EPOCHS = 40;
const LONG_JOB = { epochs: EPOCHS, batchSize: 2, earlyStopping: null };

let stack: Stack;
let datasetId: string;

before(async () => {
  stack = await startStack();
  datasetId = await uploadPhotos(stack, { train: 16, test: 4 }, 11);
});
after(() => closeStack(stack));

const checkpointDir = (jobId: string) => path.join(stack.ctx.paths.checkpoints, jobId);

/** The epoch of the "resuming from checkpoint" line a worker logged for a job. */
function resumedFrom(worker: WorkerProcess, jobId: string): number {
  const lines = logLines(worker).filter((l) => l.msg === "resuming from checkpoint" && l.jobId === jobId);
  assert.equal(
    lines.length,
    1,
    `one "resuming from checkpoint" line expected:\n${worker.output().slice(-3000)}`,
  );
  assert.equal(typeof lines[0].epoch, "number");
  return lines[0].epoch as number;
}

test("SIGKILL mid-training: another worker resumes from the checkpoint, no epoch runs twice, one model", async (t) => {
  assert.deepEqual(await modelFolders(stack), []);
  const jobId = await createJob(stack, datasetId, LONG_JOB);
  let w1: WorkerProcess | undefined;
  let w2: WorkerProcess | undefined;
  try {
    w1 = stack.spawnWorker("train");
    await pollJob(stack, jobId, (j) => j.history.length >= 2, ">= 2 completed epochs", {
      worker: w1,
      timeoutMs: 90_000,
    });
    w1.child.kill("SIGKILL");
    assert.equal(await exitWithin(w1, 10_000), null, "the killed worker exits");
    assert.equal(w1.child.signalCode, "SIGKILL");

    // What the dead worker left behind: the record is still "running", the checkpoint holds epoch k.
    const atKill = (await stack.ctx.jobs.get(jobId))!;
    assert.equal(atKill.state, "running");
    assert.ok(
      atKill.history.length < EPOCHS,
      `killed too late: ${atKill.history.length} epochs already done`,
    );
    const ck = await loadCheckpoint(checkpointDir(jobId));
    assert.ok(ck, "a checkpoint exists after the kill");
    assert.ok(ck.epoch >= 2, `checkpoint epoch ${ck.epoch}`);
    // The checkpoint is written before the record: the record is at most one epoch behind.
    assert.ok([ck.epoch, ck.epoch - 1].includes(atKill.history.length));
    const firstLogged = epochsLogged(w1, jobId);
    assert.deepEqual(firstLogged, range(1, firstLogged.length), "first worker logged epochs 1..j");
    assert.ok(firstLogged.length <= ck.epoch);

    const restarted = Date.now();
    w2 = stack.spawnWorker("train");
    const done = await waitCompleted(stack, jobId, w2);
    t.diagnostic(
      `killed after epoch ${ck.epoch}; second worker finished ${(Date.now() - restarted) / 1000}s later`,
    );

    assert.equal(done.state, "completed");
    assert.equal(done.error, undefined);
    assert.equal(resumedFrom(w2, jobId), ck.epoch, "the second worker resumes from the last checkpoint");
    assert.deepEqual(
      epochsLogged(w2, jobId),
      range(ck.epoch + 1, EPOCHS),
      "second worker trains only the rest",
    );
    assertHistoryEpochs(done.history, EPOCHS);
    // The epochs the first worker completed keep their records (the resumed run does not rewrite them).
    assert.deepEqual(done.history.slice(0, atKill.history.length), atKill.history);
    assert.ok((done.attempts ?? 0) >= 2, `attempts ${done.attempts}`);
    assert.equal(done.progress?.percent, 100);
    await assertOneModelFor(stack, jobId, done.modelId);
  } finally {
    await stopWorker(w1);
    await stopWorker(w2);
  }
});

test("SIGTERM: the epoch finishes and is checkpointed, the job goes back to the queue, a new worker finishes it", async (t) => {
  const modelsBefore = await modelFolders(stack);
  const jobId = await createJob(stack, datasetId, { ...LONG_JOB, seed: 2 });
  let w1: WorkerProcess | undefined;
  let w2: WorkerProcess | undefined;
  try {
    w1 = stack.spawnWorker("train");
    await pollJob(stack, jobId, (j) => j.history.length >= 1, ">= 1 completed epoch", {
      worker: w1,
      timeoutMs: 90_000,
    });
    const signalled = Date.now();
    w1.child.kill("SIGTERM");
    const code = await exitWithin(w1, 20_000);
    const exitSeconds = (Date.now() - signalled) / 1000;
    t.diagnostic(`worker exited ${exitSeconds}s after SIGTERM`);
    assert.equal(code, 0, `the worker exits by itself with code 0:\n${w1.output().slice(-3000)}`);

    const rec = (await stack.ctx.jobs.get(jobId))!;
    assert.equal(rec.state, "queued", "the record goes back to queued, not failed");
    assert.equal(rec.error, undefined);
    assert.equal(rec.finishedAt, undefined);
    const bull = await stack.queues.jobs.getJob(jobId);
    assert.ok(bull, "the BullMQ job still exists");
    const bullState = await bull.getState();
    assert.ok(["waiting", "delayed", "prioritized"].includes(bullState), `BullMQ state ${bullState}`);

    const ck = await loadCheckpoint(checkpointDir(jobId));
    assert.ok(ck, "a checkpoint exists after the hand-back");
    assert.ok(ck.epoch < EPOCHS, `handed back too late: epoch ${ck.epoch}`);
    assert.equal(ck.epoch, rec.history.at(-1)?.epoch, "the checkpoint's epoch is the last history epoch");
    assertHistoryEpochs(rec.history, ck.epoch);
    const logs = logLines(w1);
    assert.ok(
      logs.some((l) => l.msg === "job handed back to the queue after its checkpoint" && l.jobId === jobId),
    );
    assert.ok(!logs.some((l) => l.msg === "job attempt failed"), "no failed attempt was logged");
    assert.deepEqual(epochsLogged(w1, jobId), range(1, ck.epoch));

    w2 = stack.spawnWorker("train");
    const done = await waitCompleted(stack, jobId, w2);
    assert.equal(done.state, "completed");
    assert.equal(done.error, undefined);
    assert.equal(resumedFrom(w2, jobId), ck.epoch);
    assert.deepEqual(epochsLogged(w2, jobId), range(ck.epoch + 1, EPOCHS));
    assertHistoryEpochs(done.history, EPOCHS);
    assert.equal(done.attempts, 2, "started once by each worker");
    await assertOneModelFor(stack, jobId, done.modelId, modelsBefore);
  } finally {
    await stopWorker(w1);
    await stopWorker(w2);
  }
});

/**
 * Leaves job B in the state a worker killed right after B's last checkpoint leaves it (while it evaluated
 * and published the model, or right after early stopping): B's checkpoint folder holds the final state.
 * The state is taken from job A, which trained on the same data with the same parameters, and put in
 * place before B is created (B's id comes from its Idempotency-Key).
 */
async function jobWithFinalCheckpoint(worker: WorkerProcess, params: Record<string, unknown>) {
  const a = await createJob(stack, datasetId, params);
  const doneA = await waitCompleted(stack, a, worker);
  const key = `resume-after-final-checkpoint-${a}`;
  const b = newJobId(key);
  await cp(checkpointDir(a), checkpointDir(b), { recursive: true });
  const ck = await loadCheckpoint(checkpointDir(b));
  assert.equal(ck?.epoch, doneA.history.length);
  const res = await request(stack.app.server)
    .post("/v1/jobs")
    .set("idempotency-key", key)
    .send({ datasetId, ...params });
  assert.equal(res.status, 202);
  assert.equal(res.body.id, b);
  return { a: doneA, b };
}

test("a worker that died after the final epoch's checkpoint: the job still completes on resume", async () => {
  const w = stack.spawnWorker("train");
  try {
    const params = { epochs: 3, batchSize: 8, earlyStopping: null, seed: 5 };
    const modelsBefore = await modelFolders(stack);
    const { a, b } = await jobWithFinalCheckpoint(w, params);
    const done = await waitCompleted(stack, b, w, 30_000);
    assert.equal(resumedFrom(w, b), 3);
    assert.deepEqual(epochsLogged(w, b), [], "no epoch is trained again");
    assert.deepEqual(done.history, a.history);
    assert.equal(done.error, undefined);
    await assertOneModelFor(stack, b, done.modelId, [...modelsBefore, a.modelId!]);
  } finally {
    await stopWorker(w);
  }
});

test("a worker that died right after early stopping: the resumed job trains no further epoch", async () => {
  const w = stack.spawnWorker("train");
  try {
    // minDelta 1 can never be met: training stops early after epoch 2 of 10.
    const params = { epochs: 10, batchSize: 8, earlyStopping: { patience: 1, minDelta: 1 }, seed: 6 };
    const { a, b } = await jobWithFinalCheckpoint(w, params);
    assert.equal(a.history.length, 2, "job A stopped early after epoch 2");
    const done = await waitCompleted(stack, b, w, 30_000);
    assert.equal(resumedFrom(w, b), 2);
    assert.deepEqual(epochsLogged(w, b), [], "no epoch is trained after early stopping");
    assert.deepEqual(done.history, a.history);
  } finally {
    await stopWorker(w);
  }
});
