import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Value from "typebox/value";
import {
  INGEST_ERROR_CODES,
  JOB_CONTRACT,
  JOB_QUEUES,
  jobsOn,
  LIFECYCLE_ERROR_CODES,
} from "../../src/jobs/contract.js";
import { JobFailure, RetryableJobFailure } from "../../src/jobs/job-error.js";
import { INGEST_QUEUE, JOBS_QUEUE } from "../../src/queues.js";

describe("the job contract", () => {
  it("maps every job name to its queue, payload schema, handler and error codes", () => {
    assert.deepEqual(Object.keys(JOB_CONTRACT).sort(), ["ingest", "predict", "train"]);
    const good = { train: { jobId: "job_1" }, predict: { jobId: "job_1" }, ingest: { datasetId: "ds_1" } };
    for (const [name, spec] of Object.entries(JOB_CONTRACT)) {
      assert.equal(typeof spec.handler, "function", name);
      assert.ok(spec.errorCodes.length > 0, name);
      for (const code of spec.errorCodes) assert.match(code, /^[A-Z][A-Z0-9_]*$/, `${name}: ${code}`);
      assert.ok(Value.Check(spec.payload, good[name as keyof typeof good]), `${name}: a good payload passes`);
      assert.ok(!Value.Check(spec.payload, {}), `${name}: an empty payload fails`);
      assert.ok(!Value.Check(spec.payload, { jobId: 1, datasetId: 1 }), `${name}: wrong types fail`);
    }
    assert.equal(JOB_CONTRACT.train.queue.name, JOBS_QUEUE);
    assert.equal(JOB_CONTRACT.predict.queue.name, JOBS_QUEUE);
    assert.equal(JOB_CONTRACT.ingest.queue.name, INGEST_QUEUE);
    assert.ok(JOB_CONTRACT.train.errorCodes.includes("NO_USABLE_IMAGES"));
    assert.ok(JOB_CONTRACT.train.errorCodes.includes("DATASET_DELETED"));
    assert.ok(JOB_CONTRACT.predict.errorCodes.includes("MODEL_DELETED"));
    assert.deepEqual(JOB_CONTRACT.ingest.errorCodes, INGEST_ERROR_CODES);
  });

  it("groups the names by queue; each queue has a generic failure that says nothing internal", () => {
    assert.deepEqual(Object.keys(jobsOn(JOB_QUEUES.jobs)).sort(), ["predict", "train"]);
    assert.deepEqual(Object.keys(jobsOn(JOB_QUEUES.ingest)), ["ingest"]);
    assert.equal(JOB_QUEUES.jobs.generic.code, "JOB_FAILED");
    assert.equal(JOB_QUEUES.ingest.generic.code, "INGEST_FAILED");
    assert.equal(JOB_QUEUES.jobs.recordKey, "jobId");
    assert.equal(JOB_QUEUES.ingest.recordKey, "datasetId");
    assert.deepEqual([...LIFECYCLE_ERROR_CODES].sort(), [
      "INSUFFICIENT_STORAGE",
      "INVALID_PAYLOAD",
      "JOB_NOT_FOUND",
      "UNKNOWN_JOB_TYPE",
    ]);
  });

  it("failures carry their code as data: final ones are BullMQ UnrecoverableErrors, retryable ones not", () => {
    const final = new JobFailure("NO_USABLE_IMAGES", "no training image could be decoded");
    assert.equal(final.code, "NO_USABLE_IMAGES");
    assert.equal(final.message, "no training image could be decoded");
    assert.equal(final.retryable, false);
    assert.deepEqual(final.toInfo(), {
      code: "NO_USABLE_IMAGES",
      message: "no training image could be decoded",
    });
    const again = new RetryableJobFailure("MODEL_DELETED", "later");
    assert.equal(again.retryable, true);
    assert.notEqual(again.name, "UnrecoverableError");
    assert.deepEqual(again.toInfo(), { code: "MODEL_DELETED", message: "later" });
  });
});
