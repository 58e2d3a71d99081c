import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { photo } from "../../scripts/lib/photos.js";
import { assertError, createDataset, imageEntries, rawZip } from "../helpers/archives.js";
import { type Stack, startStack } from "../helpers/stack.js";

/** The models API before any model exists (the trained-model paths are in flow.test.ts). */
describe("models API without models", () => {
  let stack: Stack;
  let datasetId: string;
  const api = () => request(stack.app.server);
  before(async () => {
    stack = await startStack();
    datasetId = await createDataset(stack, await rawZip(imageEntries(["cat", "coffee"], 2)));
  });
  after(() => stack.close());

  it("GET /v1/models is an empty list", async () => {
    const res = await api().get("/v1/models");
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { items: [], nextCursor: null });
  });

  it("GET and DELETE of an unknown or path-like model id are 404", async () => {
    assertError(await api().get("/v1/models/mdl_doesnotexist"), 404, "NOT_FOUND");
    assertError(await api().get("/v1/models/..%2F..%2Fetc"), 404);
    assertError(await api().delete("/v1/models/mdl_doesnotexist"), 404, "NOT_FOUND");
  });

  it("predict on an unknown model is 404, raw or multipart", async () => {
    const raw = await api()
      .post("/v1/models/mdl_doesnotexist/predict")
      .set("content-type", "image/jpeg")
      .send(photo("cat"));
    assertError(raw, 404, "NOT_FOUND");
    const multi = await api()
      .post("/v1/models/mdl_doesnotexist/predict")
      .attach("image", photo("cat"), "cat.jpg");
    assertError(multi, 404, "NOT_FOUND");
    const counts = await stack.queues.predict.getJobCounts("waiting", "active");
    assert.equal(counts.waiting + counts.active, 0, "nothing was queued for an unknown model");
  });

  it("POST /v1/models/:id/predictions: unknown model 404, bad body 400, no job created", async () => {
    assertError(
      await api().post("/v1/models/mdl_doesnotexist/predictions").send({ datasetId }),
      404,
      "NOT_FOUND",
    );
    assertError(
      await api().post("/v1/models/mdl_doesnotexist/predictions").send({ datasetId, extra: true }),
      400,
      "VALIDATION_ERROR",
    );
    assertError(
      await api()
        .post("/v1/models/mdl_doesnotexist/predictions")
        .set("content-type", "application/json")
        .send("{nope"),
      400,
      "INVALID_JSON",
    );
    assert.deepEqual((await api().get("/v1/jobs")).body.items, []);
  });
});
