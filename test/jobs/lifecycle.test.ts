/**
 * The job lifecycle with real Redis and real BullMQ workers, handlers replaced by stand-ins: the record
 * follows BullMQ (running, queued while retried, completed, cancelled, failed with `{code, message}`),
 * failures travel as data, and unexpected errors show the queue's generic code and nothing internal.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type ConnectionOptions, type JobsOptions, Queue, type Worker } from "bullmq";
import Type from "typebox";
import { loadConfig } from "../../src/config.js";
import { type Context, createContext } from "../../src/context.js";
import { createIngestWorker } from "../../src/datasets/ingest-worker.js";
import { type AnyJobSpec, JOB_QUEUES, type JobSpec } from "../../src/jobs/contract.js";
import { HandBackError, JobFailure, RetryableJobFailure } from "../../src/jobs/job-error.js";
import { createJobWorker } from "../../src/jobs/lifecycle.js";
import type { JobResult } from "../../src/jobs/record-sync.js";
import type { JobRecord } from "../../src/jobs/schemas.js";
import { createLogger } from "../../src/logger.js";
import { INGEST_QUEUE, JOBS_QUEUE, JobPayloadSchema } from "../../src/queues.js";
import { waitFor } from "../helpers/stack.js";

let ctx: Context;
let dataDir: string;
let jobs: Queue;
let worker: Worker;
/** Attempts each stand-in handler saw, by job id: the record's state when the attempt started. */
const seen = new Map<string, JobRecord["state"][]>();

const see = async (c: Context, jobId: string) => {
  const state = (await c.jobs.get(jobId))?.state;
  seen.set(jobId, [...(seen.get(jobId) ?? []), state as JobRecord["state"]]);
  return seen.get(jobId)!.length;
};

/** Stand-in handlers on the jobs queue, one per behaviour under test. */
const spec = (
  handler: JobSpec<typeof JobPayloadSchema, string, JobResult>["handler"],
  errorCodes: readonly string[] = ["NO_USABLE_IMAGES", "MODEL_BUSY"],
): AnyJobSpec => ({ queue: JOB_QUEUES.jobs, payload: JobPayloadSchema, errorCodes, handler });
const SPECS: Record<string, AnyJobSpec> = {
  ok: spec(async ({ ctx: c, payload }) => {
    await see(c, payload.jobId);
    return { state: "completed", result: { modelId: "mdl_x" } };
  }),
  cancelled: spec(async ({ ctx: c, payload }) => {
    await see(c, payload.jobId);
    return { state: "cancelled" };
  }),
  fails: spec(async ({ ctx: c, payload }) => {
    await see(c, payload.jobId);
    throw new JobFailure("NO_USABLE_IMAGES", "no training image could be decoded");
  }),
  undeclared: spec(async () => {
    throw new JobFailure("SOMETHING_ELSE", "a code the contract does not list");
  }),
  crashes: spec(async ({ ctx: c, payload }) => {
    await see(c, payload.jobId);
    throw new Error("ENOSPC: /var/lib/secret/path is full");
  }),
  flaky: spec(async ({ ctx: c, payload }) => {
    if ((await see(c, payload.jobId)) === 1) throw new RetryableJobFailure("MODEL_BUSY", "try later");
    return { state: "completed", result: { warnings: ["second time lucky"] } };
  }),
  busy: spec(async ({ ctx: c, payload }) => {
    await see(c, payload.jobId);
    throw new RetryableJobFailure("MODEL_BUSY", "the model is busy");
  }),
  handsBack: spec(async ({ ctx: c, payload }) => {
    if ((await see(c, payload.jobId)) === 1) throw new HandBackError();
    return { state: "completed", result: {} };
  }),
  strict: {
    ...spec(async () => ({ state: "completed", result: {} })),
    payload: Type.Object({ jobId: Type.String(), n: Type.Integer() }),
  },
};

before(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "tls-lifecycle-"));
  const config = loadConfig({
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `test-${randomUUID().slice(0, 8)}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    WORKER_LOCK_MS: "4000",
    WORKER_STALLED_INTERVAL_MS: "1000",
  });
  ctx = createContext(config, createLogger(config.LOG_LEVEL, "test"));
  jobs = new Queue(JOBS_QUEUE, {
    connection: ctx.redis as unknown as ConnectionOptions,
    prefix: config.QUEUE_PREFIX,
  });
  worker = createJobWorker({ ctx, logger: ctx.logger, queue: JOB_QUEUES.jobs, specs: SPECS, concurrency: 4 });
});

after(async () => {
  await worker.close();
  await jobs.obliterate({ force: true }).catch(() => undefined);
  await jobs.close();
  const keys = await ctx.redis.keys(`${ctx.config.QUEUE_PREFIX}:*`);
  if (keys.length > 0) await ctx.redis.del(...keys);
  await ctx.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Records a job and puts it on the queue under `name` (a stand-in handler), `extra` added to its payload. */
async function enqueue(name: string, options: JobsOptions = {}, extra: Record<string, unknown> = {}) {
  const id = `job_${randomUUID().replaceAll("-", "")}`;
  await ctx.jobs.create({
    id,
    type: "train",
    params: {},
    state: "queued",
    createdAt: new Date().toISOString(),
    history: [],
  });
  await jobs.add(name, { jobId: id, ...extra }, { jobId: id, ...options });
  return id;
}

/** Waits until the record and BullMQ's job are both final; returns the record and BullMQ's job. */
async function settled(id: string) {
  return waitFor(
    async () => {
      const record = await ctx.jobs.get(id);
      const bull = await jobs.getJob(id);
      const state = await bull?.getState();
      if (!record || !["completed", "failed", "cancelled"].includes(record.state)) return undefined;
      if (state !== "completed" && state !== "failed") return undefined;
      return { record, bull: bull!, state };
    },
    15_000,
    `job ${id} to settle`,
  );
}

describe("job lifecycle", () => {
  it("a completed handler: the record was running during the attempt, then completed with its result", async () => {
    const id = await enqueue("ok");
    const { record, state } = await settled(id);
    assert.equal(state, "completed");
    assert.deepEqual(seen.get(id), ["running"]);
    assert.equal(record.state, "completed");
    assert.equal(record.modelId, "mdl_x");
    assert.equal(record.attempts, 1);
    assert.ok(record.startedAt && record.finishedAt);
    assert.equal(record.error, undefined);
  });

  it("a cancelled handler: the record is cancelled, BullMQ's job completed", async () => {
    const id = await enqueue("cancelled");
    const { record, state } = await settled(id);
    assert.equal(state, "completed");
    assert.equal(record.state, "cancelled");
    assert.ok(record.finishedAt);
  });

  it("a JobFailure ends the job at once, its code and message in the record", async () => {
    const id = await enqueue("fails", { attempts: 3, backoff: { type: "fixed", delay: 100 } });
    const { record, bull, state } = await settled(id);
    assert.equal(state, "failed");
    assert.equal(bull.attemptsMade, 1, "not retried");
    assert.equal(record.state, "failed");
    assert.deepEqual(record.error, {
      code: "NO_USABLE_IMAGES",
      message: "no training image could be decoded",
    });
    assert.equal(record.attempts, 1);
    assert.ok(!Number.isNaN(Date.parse(record.finishedAt!)));
  });

  it("a JobFailure whose code the job does not declare shows the generic code", async () => {
    const id = await enqueue("undeclared");
    const { record } = await settled(id);
    assert.deepEqual(record.error, { code: "JOB_FAILED", message: JOB_QUEUES.jobs.generic.message });
  });

  it("an unexpected error is retried (queued in between), then shows the generic code and message", async () => {
    const id = await enqueue("crashes", { attempts: 2, backoff: { type: "fixed", delay: 300 } });
    const { record, bull, state } = await settled(id);
    assert.equal(state, "failed");
    assert.equal(bull.attemptsMade, 2);
    assert.deepEqual(seen.get(id), ["running", "running"]);
    assert.equal(record.attempts, 2);
    assert.deepEqual(record.error, JOB_QUEUES.jobs.generic);
    assert.doesNotMatch(record.error!.message, /secret|ENOSPC/, "no internals in the record");
  });

  it("a retryable failure puts the record back to queued; the next attempt completes", async () => {
    const id = await enqueue("flaky", { attempts: 3, backoff: { type: "fixed", delay: 1500 } });
    await waitFor(
      async () => ((seen.get(id)?.length ?? 0) >= 1 ? true : undefined),
      10_000,
      "the first attempt",
    );
    const between = await waitFor(
      async () => {
        const r = await ctx.jobs.get(id);
        return r?.state === "queued" ? r : undefined;
      },
      1_400,
      "the record back to queued",
    );
    assert.equal(between.error, undefined);
    const { record, bull } = await settled(id);
    assert.equal(record.state, "completed");
    assert.deepEqual(record.warnings, ["second time lucky"]);
    assert.equal(record.attempts, 2);
    assert.equal(bull.attemptsMade, 2, "BullMQ counts the failed attempt and the completed one");
  });

  it("a retryable failure on the last attempt shows its own code", async () => {
    const id = await enqueue("busy", { attempts: 2, backoff: { type: "fixed", delay: 100 } });
    const { record, bull } = await settled(id);
    assert.equal(bull.attemptsMade, 2);
    assert.deepEqual(record.error, { code: "MODEL_BUSY", message: "the model is busy" });
  });

  it("a hand-back puts the job back on the queue without counting a failed attempt", async () => {
    const id = await enqueue("handsBack", { attempts: 1 });
    const { record, bull, state } = await settled(id);
    assert.equal(state, "completed");
    assert.deepEqual(seen.get(id), ["running", "running"]);
    assert.equal(record.state, "completed");
    assert.equal(record.attempts, 2, "the record counts every start");
    assert.equal(bull.attemptsMade, 1, "BullMQ counts only the attempt that completed");
  });

  it("a payload that fails its schema is INVALID_PAYLOAD, never retried, and the handler never runs", async () => {
    const id = await enqueue("strict", { attempts: 3 }, { n: "seven" });
    const { record, bull } = await settled(id);
    assert.equal(bull.attemptsMade, 1);
    assert.equal(record.error?.code, "INVALID_PAYLOAD");
    assert.match(record.error!.message, /\/n/);
    assert.equal(record.attempts, undefined, "the attempt never started");
  });

  it("an unknown job name is UNKNOWN_JOB_TYPE", async () => {
    const id = await enqueue("nobody-handles-this", { attempts: 3 });
    const { record } = await settled(id);
    assert.equal(record.error?.code, "UNKNOWN_JOB_TYPE");
  });

  it("a job BullMQ fails for stalling too often (before any handler runs) shows the generic code", async () => {
    await worker.pause();
    try {
      const id = await enqueue("ok", { attempts: 3 });
      // What BullMQ's stalled-job check writes once a job exceeded maxStalledCount.
      await ctx.redis.hset(
        `${ctx.config.QUEUE_PREFIX}:${JOBS_QUEUE}:${id}`,
        "defa",
        "job stalled more than allowable limit",
      );
      worker.resume();
      const { record, state } = await settled(id);
      assert.equal(state, "failed");
      assert.equal(seen.get(id), undefined, "the handler never ran");
      assert.equal(record.error?.code, "JOB_FAILED");
      assert.match(record.error!.message, /stopped responding/);
    } finally {
      worker.resume();
    }
  });
});

describe("ingest lifecycle", () => {
  it("an ingestion that crashes on its last attempt marks the dataset INGEST_FAILED with a generic message", async () => {
    const upload = path.join(dataDir, "upload.zip");
    await writeFile(upload, "not yet an archive");
    const dataset = await ctx.datasets.create(upload, "broken");
    // The upload is gone (lost disk): a server-side failure, not the archive's fault.
    await rm(ctx.datasets.archivePath(dataset.id));
    const ingest = new Queue(INGEST_QUEUE, {
      connection: ctx.redis as unknown as ConnectionOptions,
      prefix: ctx.config.QUEUE_PREFIX,
    });
    const w = createIngestWorker(ctx, ctx.logger, 1);
    try {
      await ingest.add("ingest", { datasetId: dataset.id }, { jobId: `ingest-${dataset.id}`, attempts: 1 });
      const failed = await waitFor(
        async () => {
          const d = await ctx.datasets.get(dataset.id);
          return d.state === "failed" ? d : undefined;
        },
        15_000,
        "the dataset to fail",
      );
      assert.deepEqual(failed.error, JOB_QUEUES.ingest.generic);
      assert.doesNotMatch(failed.error!.message, /ENOENT|upload\.archive/);
    } finally {
      await w.close();
      await ingest.obliterate({ force: true }).catch(() => undefined);
      await ingest.close();
    }
  });

  it("an archive that can never work fails at once with its own code", async () => {
    const upload = path.join(dataDir, "upload2.zip");
    await writeFile(upload, "PK\u0003\u0004 truncated");
    const dataset = await ctx.datasets.create(upload, "invalid");
    const ingest = new Queue(INGEST_QUEUE, {
      connection: ctx.redis as unknown as ConnectionOptions,
      prefix: ctx.config.QUEUE_PREFIX,
    });
    const w = createIngestWorker(ctx, ctx.logger, 1);
    try {
      const job = await ingest.add("ingest", { datasetId: dataset.id }, { attempts: 3 });
      const failed = await waitFor(
        async () => {
          const d = await ctx.datasets.get(dataset.id);
          return d.state === "failed" ? d : undefined;
        },
        15_000,
        "the dataset to fail",
      );
      assert.equal(failed.error?.code, "INVALID_ARCHIVE", failed.error?.message);
      await waitFor(async () => ((await job.getState()) === "failed" ? true : undefined), 5_000, "BullMQ");
      assert.equal((await ingest.getJob(job.id!))?.attemptsMade, 1, "not retried");
    } finally {
      await w.close();
      await ingest.obliterate({ force: true }).catch(() => undefined);
      await ingest.close();
    }
  });
});
