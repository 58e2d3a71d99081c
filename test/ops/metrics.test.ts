/**
 * GET /metrics after a training job and 100 predictions: it parses with the official Prometheus client's
 * parser; the predict latency histogram counts 100; the workers' metrics (job and epoch durations,
 * extraction rate, batch sizes, model cache) reach the API through Redis; queue depths and process
 * metrics are there. Real worker processes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import request from "supertest";
import { photo } from "../../scripts/lib/photos.js";
import { type Family, parsePrometheus, sampleSum } from "../helpers/prometheus.js";
import { startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";
import { createJob, uploadPhotos, waitCompleted } from "../workers/train-worker-lib.js";

test("after a job and 100 predictions /metrics parses and counts them", { timeout: 300_000 }, async () => {
  const stack = await startStack();
  const workers: WorkerProcess[] = [];
  try {
    const datasetId = await uploadPhotos(stack, { train: 6, test: 2 }, 81);
    const trainer = stack.spawnWorker("train");
    workers.push(trainer, stack.spawnWorker("predict"));
    const jobId = await createJob(stack, datasetId, { epochs: 3, batchSize: 4, earlyStopping: null });
    const { modelId } = await waitCompleted(stack, jobId, trainer, 180_000);
    for (let i = 0; i < 100; i++) {
      const res = await request(stack.app.server)
        .post(`/v1/models/${modelId}/predict`)
        .set("content-type", "image/jpeg")
        .send(photo(i % 2 === 0 ? "cat" : "coffee"));
      assert.equal(res.status, 200, res.text);
    }
    // Workers publish every 5 s: wait until the predict worker's batches add up to the 100 images.
    const m: Family[] = await waitFor(
      async () => {
        const res = await request(stack.app.server).get("/metrics");
        assert.equal(res.status, 200);
        assert.match(String(res.headers["content-type"]), /^text\/plain/);
        const parsed = await parsePrometheus(res.text);
        return sampleSum(parsed, "tls_predict_batch_size_sum") >= 100 ? parsed : undefined;
      },
      60_000,
      "the predict worker's metrics to count 100 images",
    );
    assert.equal(sampleSum(m, "tls_predict_request_seconds_count", { status: "2xx" }), 100);
    assert.equal(sampleSum(m, "tls_predict_request_seconds_bucket", { status: "2xx", le: "+Inf" }), 100);
    assert.equal(sampleSum(m, "tls_predict_batch_size_sum"), 100);
    assert.equal(sampleSum(m, "tls_job_duration_seconds_count", { job: "train", outcome: "completed" }), 1);
    assert.equal(sampleSum(m, "tls_epoch_duration_seconds_count"), 3);
    assert.ok(sampleSum(m, "tls_extraction_images_per_second") > 0);
    assert.equal(
      sampleSum(m, "tls_model_cache_requests_total", { result: "miss" }),
      1,
      "the model loads once",
    );
    assert.equal(sampleSum(m, "tls_model_cache_requests_total"), 100);
    assert.ok(sampleSum(m, "tls_queue_jobs", { queue: "jobs", state: "completed" }) >= 1);
    const queues = new Set(m.find((f) => f.name === "tls_queue_jobs")?.samples.map((s) => s.labels.queue));
    assert.deepEqual([...queues].sort(), ["ingest", "jobs", "predict", "webhooks"]);
    for (const role of ["train-worker", "predict-worker"]) {
      assert.ok(sampleSum(m, "process_resident_memory_bytes", { role }) > 0, `process metrics of ${role}`);
    }
  } finally {
    for (const w of workers) {
      w.child.kill("SIGKILL");
      await w.exited;
    }
    await stack.close();
  }
});
