import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { photo, photoDatasetZip } from "../../scripts/lib/photos.js";
import { assertError, ingestDataset, truncatedJpeg } from "../helpers/archives.js";
import { type Stack, startStack, waitFor } from "../helpers/stack.js";

const EPOCHS = 3;
const TRAIN = 10;
const TEST = 3;
const CLASSES = ["cat", "coffee"];

type Prediction = { label: string; probability: number };

/** Predictions are sorted by probability (descending), labels are classes, probabilities sum to <= 1. */
function assertPredictions(predictions: Prediction[], length: number): void {
  assert.equal(predictions.length, length);
  for (const p of predictions) {
    assert.ok(CLASSES.includes(p.label), p.label);
    assert.ok(p.probability >= 0 && p.probability <= 1, String(p.probability));
  }
  for (let i = 1; i < predictions.length; i++) {
    assert.ok(predictions[i - 1].probability >= predictions[i].probability, "sorted by probability");
  }
  const sum = predictions.reduce((s, p) => s + p.probability, 0);
  assert.ok(sum <= 1 + 1e-4, `probabilities sum to ${sum}`);
  if (length === CLASSES.length) assert.ok(Math.abs(sum - 1) < 1e-3, `all classes sum to ${sum}`);
}

describe("full flow: upload, train, evaluate, predict, batch predict, delete", () => {
  let stack: Stack;
  let datasetId: string;
  let jobId: string;
  let modelId: string;
  const api = () => request(stack.app.server);
  const getJob = async (id: string) => (await api().get(`/v1/jobs/${id}`)).body;
  const until = (id: string, ms: number) =>
    waitFor(
      async () => {
        const j = await getJob(id);
        return ["completed", "failed", "cancelled"].includes(j.state) ? j : undefined;
      },
      ms,
      `job ${id} to finish`,
    );

  before(async () => {
    stack = await startStack();
    stack.spawnWorker("train");
    stack.spawnWorker("predict");
  });
  after(() => stack.close());

  it("uploads a cat vs coffee dataset", async () => {
    const zip = await photoDatasetZip(["cat", "coffee"], { train: TRAIN, test: TEST }, 3);
    const dataset = await ingestDataset(stack, zip, "cat-vs-coffee.zip");
    assert.equal(dataset.state, "ready", JSON.stringify(dataset.error));
    assert.deepEqual(dataset.classes, CLASSES);
    assert.deepEqual(dataset.splits.test?.perClass, { cat: TEST, coffee: TEST });
    assert.equal(dataset.progress?.done, 2 * (TRAIN + TEST));
    datasetId = dataset.id;
  });

  it("trains to completion with one history entry per epoch", async () => {
    const posted = await api()
      .post("/v1/jobs")
      .send({ datasetId, epochs: EPOCHS, batchSize: 8, hiddenUnits: 32, learningRate: 0.01 });
    assert.equal(posted.status, 202, posted.text);
    jobId = posted.body.id;
    const job = await until(jobId, 150_000);
    assert.equal(job.state, "completed", JSON.stringify(job.error ?? job));
    assert.equal(job.type, "train");
    assert.ok(Date.parse(job.createdAt) <= Date.parse(job.startedAt));
    assert.ok(Date.parse(job.startedAt) <= Date.parse(job.finishedAt));
    assert.equal(job.error, undefined);

    assert.equal(job.history.length, EPOCHS);
    job.history.forEach((h: Record<string, number>, i: number) => {
      assert.equal(h.epoch, i + 1);
      for (const k of ["loss", "accuracy", "valLoss", "valAccuracy", "seconds"]) {
        assert.equal(typeof h[k], "number", `history[${i}].${k}`);
        assert.ok(Number.isFinite(h[k]) && h[k] >= 0, `history[${i}].${k} = ${h[k]}`);
      }
      assert.ok(h.accuracy <= 1 && h.valAccuracy <= 1);
    });

    const p = job.progress;
    assert.ok(p, "progress is kept");
    assert.ok(["extracting", "training", "evaluating", "saving"].includes(p.phase), p.phase);
    for (const k of ["step", "steps", "percent"]) assert.equal(typeof p[k], "number", `progress.${k}`);
    assert.equal(p.percent, 100);
    assert.ok(p.step <= p.steps);

    assert.match(job.modelId, /^mdl_/);
    modelId = job.modelId;
  });

  it("GET /v1/models/:id shows classes and metrics; the list has it", async () => {
    const res = await api().get(`/v1/models/${modelId}`);
    assert.equal(res.status, 200, res.text);
    const m = res.body;
    assert.equal(m.id, modelId);
    assert.equal(m.jobId, jobId);
    assert.equal(m.datasetId, datasetId);
    assert.equal(m.backbone, "mobilenet_v2");
    assert.deepEqual(m.classes, CLASSES);
    assert.ok(!Number.isNaN(Date.parse(m.createdAt)));
    assert.ok(m.metrics.accuracy >= 0.8 && m.metrics.accuracy <= 1, `accuracy ${m.metrics.accuracy}`);
    assert.equal(typeof m.metrics.loss, "number");
    assert.deepEqual(Object.keys(m.metrics.perClass).sort(), CLASSES);
    for (const cls of CLASSES) {
      const c = m.metrics.perClass[cls];
      for (const k of ["precision", "recall", "f1"])
        assert.ok(c[k] >= 0 && c[k] <= 1, `${cls}.${k} = ${c[k]}`);
      assert.equal(c.support, TEST, "evaluated on the test split");
    }
    const cm = m.metrics.confusionMatrix as number[][];
    assert.equal(cm.length, 2);
    assert.ok(cm.every((row) => row.length === 2 && row.every((v) => Number.isInteger(v) && v >= 0)));
    assert.deepEqual(
      cm.map((row) => row[0] + row[1]),
      [TEST, TEST],
      "rows are true classes",
    );
    assert.equal((cm[0][0] + cm[1][1]) / (2 * TEST), m.metrics.accuracy, "accuracy is the diagonal");
    assert.equal(m.metrics.split, "test", "the dataset's test split, evaluated once");
    assert.ok(m.metrics.macroF1 >= 0 && m.metrics.macroF1 <= 1);
    assert.ok(m.metrics.ece >= 0 && m.metrics.ece <= 1);
    assert.ok(m.validationMetrics.accuracy >= 0 && m.validationMetrics.accuracy <= 1);
    assert.ok(m.calibration.temperature > 0);
    assert.equal(typeof m.calibration.eceBefore, "number");
    assert.equal(m.openSet.method, "mahalanobis-diag-nearest-class-mean");
    assert.ok(m.openSet.validationRejectRate >= 0 && m.openSet.validationRejectRate <= 0.5);

    const list = await api().get("/v1/models");
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.items.find((x: { id: string }) => x.id === modelId),
      m,
    );
  });

  it("predicts one raw image: sorted, right top label, topK respected", async () => {
    for (const cls of ["cat", "coffee"] as const) {
      const res = await api()
        .post(`/v1/models/${modelId}/predict`)
        .set("content-type", "image/jpeg")
        .send(photo(cls));
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.body), ["predictions", "unknown"]);
      assertPredictions(res.body.predictions, 2);
      assert.equal(res.body.predictions[0].label, cls, JSON.stringify(res.body));
      assert.equal(typeof res.body.unknown, "boolean");
    }
    const off = await api()
      .post(`/v1/models/${modelId}/predict?unknown=off`)
      .set("content-type", "image/jpeg")
      .send(photo("cat"));
    assert.equal(off.status, 200, off.text);
    assert.deepEqual(Object.keys(off.body), ["predictions"], "unknown=off leaves it out");
    const top1 = await api()
      .post(`/v1/models/${modelId}/predict?topK=1`)
      .set("content-type", "image/jpeg")
      .send(photo("coffee"));
    assert.equal(top1.status, 200, top1.text);
    assertPredictions(top1.body.predictions, 1);
    assert.equal(top1.body.predictions[0].label, "coffee");
    const bad = await api()
      .post(`/v1/models/${modelId}/predict?topK=0`)
      .set("content-type", "image/jpeg")
      .send(photo("cat"));
    assertError(bad, 400, "VALIDATION_ERROR");
  });

  it("predicts several images sent as multipart `image` fields, results in request order", async () => {
    const res = await api()
      .post(`/v1/models/${modelId}/predict?topK=2`)
      .attach("image", photo("coffee"), "a.jpg")
      .attach("image", photo("cat"), "b.jpg");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body), ["results"]);
    assert.equal(res.body.results.length, 2);
    for (const r of res.body.results as { predictions: Prediction[]; unknown: boolean }[]) {
      assertPredictions(r.predictions, 2);
      assert.equal(typeof r.unknown, "boolean");
    }
    assert.equal(res.body.results[0].predictions[0].label, "coffee");
    assert.equal(res.body.results[1].predictions[0].label, "cat");
  });

  it("predict errors: undecodable 400, empty 400, JSON 415, unknown model 404", async () => {
    const post = (id = modelId) => api().post(`/v1/models/${id}/predict`);
    const text = await post().set("content-type", "image/jpeg").send(Buffer.from("not a jpeg at all"));
    assertError(text, 400);
    assertError(await post().set("content-type", "image/jpeg").send(truncatedJpeg()), 400);
    const multi = await post()
      .attach("image", photo("cat"), "a.jpg")
      .attach("image", Buffer.from("junk"), "b.jpg");
    assertError(multi, 400);
    assert.match(multi.body.error.message, /image 2/);
    assertError(await post().set("content-type", "image/jpeg").send(Buffer.alloc(0)), 400, "EMPTY_BODY");
    assertError(await post().set("content-type", "image/png"), 400, "EMPTY_BODY");
    assertError(await post().send({ image: "base64..." }), 415, "UNSUPPORTED_MEDIA_TYPE");
    const unknown = await post("mdl_doesnotexist").set("content-type", "image/jpeg").send(photo("cat"));
    assertError(unknown, 404, "NOT_FOUND");
  });

  it("an undecodable image is 400 every time, however fast the worker answers", async () => {
    const statuses: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const res = await api()
        .post(`/v1/models/${modelId}/predict`)
        .set("content-type", "image/jpeg")
        .send(Buffer.from(`not a jpeg #${i}`));
      const key = `${res.status} ${res.body.error?.code}`;
      statuses[key] = (statuses[key] ?? 0) + 1;
    }
    assert.deepEqual(statuses, { "400 INVALID_IMAGE": 40 });
  });

  it("a predict queue job that finished before the API waits on it still yields its result", async () => {
    // What POST /predict does (add, then waitUntilFinished), with the worker made to win the race.
    const job = await stack.queues.predict.add("predict", {
      modelId,
      images: [photo("cat").toString("base64")],
      topK: 1,
    });
    await waitFor(
      async () => (["completed", "failed", "unknown"].includes(await job.getState()) ? true : undefined),
      30_000,
      "the predict worker to finish the job",
    );
    const result = await job.waitUntilFinished(stack.queues.predictEvents, 5_000);
    assert.deepEqual(
      result.results.map((r) => ("predictions" in r ? r.predictions[0].label : r.error.code)),
      ["cat"],
    );
  });

  it("POST /v1/models/:id/predictions runs a predict job over the dataset", async () => {
    const res = await api().post(`/v1/models/${modelId}/predictions`).send({ datasetId });
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(res.body, { id: res.body.id, state: "queued" });
    assert.equal(res.headers.location, `/v1/jobs/${res.body.id}`);
    const job = await until(res.body.id, 90_000);
    assert.equal(job.state, "completed", JSON.stringify(job.error ?? job));
    assert.equal(job.type, "predict");
    assert.equal(job.params.datasetId, datasetId);
    const { result } = job;
    assert.ok(result.accuracy >= 0.8 && result.accuracy <= 1, `accuracy ${result.accuracy}`);
    assert.equal(result.items.length, 2 * (TRAIN + TEST), "one item per image of every split");
    const paths = new Set(result.items.map((i: { path: string }) => i.path));
    assert.equal(paths.size, result.items.length);
    for (const item of result.items) {
      assert.match(item.path, /^(train|test)\/(cat|coffee)\/[^/]+\.jpg$/);
      assert.ok(CLASSES.includes(item.label));
      assert.ok(item.probability >= 0.5 && item.probability <= 1, String(item.probability));
    }
    const listed = await api().get("/v1/jobs?type=predict");
    assert.ok(listed.body.items.some((j: { id: string }) => j.id === res.body.id));

    assertError(
      await api().post(`/v1/models/${modelId}/predictions`).send({ datasetId: "ds_doesnotexist" }),
      422,
      "UNKNOWN_DATASET",
    );
    assertError(await api().post(`/v1/models/${modelId}/predictions`).send({}), 400, "VALIDATION_ERROR");
  });

  it("DELETE /v1/models/:id is 204, then GET, DELETE and predict are 404", async () => {
    const del = await api().delete(`/v1/models/${modelId}`);
    assert.equal(del.status, 204);
    assert.equal(del.text, "");
    assertError(await api().get(`/v1/models/${modelId}`), 404, "NOT_FOUND");
    assertError(await api().delete(`/v1/models/${modelId}`), 404, "NOT_FOUND");
    const predict = await api()
      .post(`/v1/models/${modelId}/predict`)
      .set("content-type", "image/jpeg")
      .send(photo("cat"));
    assertError(predict, 404, "NOT_FOUND");
    const list = await api().get("/v1/models");
    assert.ok(!list.body.items.some((m: { id: string }) => m.id === modelId));
  });
});
