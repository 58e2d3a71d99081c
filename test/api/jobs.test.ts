import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { assertError, createDataset, imageEntries, rawZip } from "../helpers/archives.js";
import { type Stack, startStack } from "../helpers/stack.js";

/** The jobs API without any worker running: every job stays queued until cancelled. */
describe("jobs API (no worker)", () => {
  let stack: Stack;
  let datasetId: string;
  const post = (body: unknown, key?: string) => {
    const req = request(stack.app.server).post("/v1/jobs");
    if (key !== undefined) req.set("idempotency-key", key);
    return req.send(body as object);
  };
  before(async () => {
    stack = await startStack();
    datasetId = await createDataset(stack, await rawZip(imageEntries(["cat", "coffee"], 2)));
  });
  after(() => stack.close());

  it("POST /v1/jobs is 202 {id, state: queued} with a Location header; GET shows the defaults", async () => {
    const res = await post({ datasetId, epochs: 2 });
    assert.equal(res.status, 202, res.text);
    assert.match(res.body.id, /^job_/);
    assert.deepEqual(res.body, { id: res.body.id, state: "queued" });
    assert.equal(res.headers.location, `/v1/jobs/${res.body.id}`);

    const job = await request(stack.app.server).get(res.headers.location);
    assert.equal(job.status, 200);
    assert.equal(job.body.id, res.body.id);
    assert.equal(job.body.type, "train");
    assert.equal(job.body.state, "queued");
    assert.deepEqual(job.body.history, []);
    assert.ok(!Number.isNaN(Date.parse(job.body.createdAt)));
    assert.equal(job.body.startedAt, undefined);
    assert.equal(job.body.finishedAt, undefined);
    const { params } = job.body;
    assert.equal(params.datasetId, datasetId);
    assert.equal(params.epochs, 2);
    assert.equal(params.backbone, "mobilenet_v2");
    assert.equal(params.batchSize, 256);
    assert.equal(params.learningRate, 0.001);
    assert.equal(params.hiddenUnits, 256);
    assert.equal(params.dropout, 0.2);
    assert.equal(params.augment, false);
    assert.equal(params.validationSplit, 0.1);
    assert.equal(params.seed, 1);
    assert.deepEqual(params.earlyStopping, { patience: 3, minDelta: 0.001 });
    assert.equal(params.lrSchedule, "cosine");
    assert.equal(params.labelSmoothing, 0);
    assert.equal(params.classWeights, "none");
    assert.equal(params.sweep, undefined);
    assert.ok(await stack.queues.jobs.getJob(res.body.id), "the job is on the queue under its id");
  });

  it("400 INVALID_JSON for a body that is not JSON", async () => {
    const res = await request(stack.app.server)
      .post("/v1/jobs")
      .set("content-type", "application/json")
      .send(`{"datasetId": "${datasetId}", `);
    assertError(res, 400, "INVALID_JSON");
  });

  it("400 for an empty JSON body and a missing datasetId", async () => {
    const empty = await request(stack.app.server).post("/v1/jobs").set("content-type", "application/json");
    assertError(empty, 400);
    assertError(await post({ epochs: 2 }), 400, "VALIDATION_ERROR");
  });

  it("400 names every failing field, with a guess for a misspelt one", async () => {
    const res = await post({
      datasetId,
      epoch: 3,
      learningrate: 0.1,
      dropout: 5,
      earlyStopping: { patiance: 2 },
    });
    assertError(res, 400, "VALIDATION_ERROR");
    const message: string = res.body.error.message;
    assert.match(message, /unknown field 'epoch' in body \(did you mean 'epochs'\?\)/);
    assert.match(message, /unknown field 'learningrate' in body \(did you mean 'learningRate'\?\)/);
    assert.match(message, /unknown field 'patiance' in body\/earlyStopping \(did you mean 'patience'\?\)/);
    assert.match(message, /body\/dropout must be <= 0.95/);
    assertError(await post({ epochs: 2 }), 400, "VALIDATION_ERROR");
    assert.match((await post({ epochs: 2 })).body.error.message, /missing field 'datasetId'/);
  });

  const invalid: [string, Record<string, unknown>][] = [
    ["epochs 0", { epochs: 0 }],
    ["epochs 2.5", { epochs: 2.5 }],
    ["learningRate -1", { learningRate: -1 }],
    ["learningRate 0", { learningRate: 0 }],
    ["dropout 1.5", { dropout: 1.5 }],
    ["batchSize 0", { batchSize: 0 }],
    ["hiddenUnits -3", { hiddenUnits: -3 }],
    ["validationSplit 0.9", { validationSplit: 0.9 }],
    ["epochs as a word", { epochs: "many" }],
    ["earlyStopping with an unknown field", { earlyStopping: { patience: 2, extra: 1 } }],
    ["an unknown property", { colour: "blue" }],
    ["classWeights of an unknown kind", { classWeights: "inverse" }],
    ["a negative class weight", { classWeights: { cat: -1 } }],
    ["a sweep of an unknown parameter", { sweep: { momentum: [0.9] } }],
    ["a sweep with no values", { sweep: { learningRate: [] } }],
  ];
  for (const [what, extra] of invalid) {
    it(`400 VALIDATION_ERROR for ${what}`, async () => {
      const before = await stack.ctx.jobs.list({ limit: 1000 });
      assertError(await post({ datasetId, ...extra }), 400, "VALIDATION_ERROR");
      assert.equal((await stack.ctx.jobs.list({ limit: 1000 })).length, before.length, "no job was created");
    });
  }

  it("415 for a body that is neither JSON nor anything the route accepts", async () => {
    const res = await request(stack.app.server)
      .post("/v1/jobs")
      .set("content-type", "application/x-www-form-urlencoded")
      .send(`datasetId=${datasetId}`);
    assertError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("422 for class weights naming an unknown class and for a sweep of more than 64 heads", async () => {
    const before = await stack.ctx.jobs.list({ limit: 1000 });
    const cw = await post({ datasetId, classWeights: { cat: 2, zebra: 3 } });
    assertError(cw, 422, "UNKNOWN_CLASS");
    assert.match(cw.body.error.message, /zebra/);
    const big = {
      learningRate: [1, 2, 3, 4, 5],
      hiddenUnits: [1, 2, 3, 4],
      dropout: [0, 0.1, 0.2, 0.3, 0.4],
    };
    assertError(await post({ datasetId, sweep: big }), 422, "SWEEP_TOO_LARGE");
    assert.equal((await stack.ctx.jobs.list({ limit: 1000 })).length, before.length, "no job was created");
    const ok = await post({ datasetId, classWeights: "balanced", sweep: { learningRate: [0.001, 0.003] } });
    assert.equal(ok.status, 202, ok.text);
  });

  it("422 UNKNOWN_DATASET and 422 UNKNOWN_BACKBONE", async () => {
    const ds = await post({ datasetId: "ds_doesnotexist" });
    assertError(ds, 422, "UNKNOWN_DATASET");
    assert.match(ds.body.error.message, /ds_doesnotexist/);
    assertError(await post({ datasetId: "../../etc" }), 422, "UNKNOWN_DATASET");
    const bb = await post({ datasetId, backbone: "resnet_9000" });
    assertError(bb, 422, "UNKNOWN_BACKBONE");
    assert.match(bb.body.error.message, /resnet_9000/);
  });

  it("the same Idempotency-Key gives the same job; another key another job", async () => {
    const key = `key-${randomUUID()}`;
    const a = await post({ datasetId, epochs: 3 }, key);
    const b = await post({ datasetId, epochs: 3 }, key);
    const c = await post({ datasetId, epochs: 3 }, `${key}-other`);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.equal(b.body.id, a.body.id);
    assert.equal(b.headers.location, a.headers.location);
    assert.notEqual(c.body.id, a.body.id);
    const all = await stack.ctx.jobs.list({ limit: 1000 });
    assert.equal(all.filter((j) => j.id === a.body.id).length, 1, "recorded once");
  });

  it("an Idempotency-Key reused with another body is 422 IDEMPOTENCY_KEY_REUSED; the job keeps its body", async () => {
    const key = `key-${randomUUID()}`;
    const a = await post({ datasetId, epochs: 3, learningRate: 0.01 }, key);
    assert.equal(a.status, 202, a.text);
    const reordered = await post({ learningRate: 0.01, epochs: 3, datasetId }, key);
    assert.equal(reordered.status, 202, "the same body in another key order is the same request");
    assert.equal(reordered.body.id, a.body.id);
    const other = await post({ datasetId, epochs: 4, learningRate: 0.01 }, key);
    assertError(other, 422, "IDEMPOTENCY_KEY_REUSED");
    assert.match(other.body.error.message, /different request/);
    const job = await stack.ctx.jobs.get(a.body.id);
    assert.equal(job?.params.epochs, 3);
  });

  it("concurrent requests with one Idempotency-Key create exactly one record and one queue job", async () => {
    const keys = Array.from({ length: 10 }, () => `key-${randomUUID()}`);
    const pairs = await Promise.all(
      keys.map((key) =>
        Promise.all([post({ datasetId, epochs: 2 }, key), post({ datasetId, epochs: 2 }, key)]),
      ),
    );
    const ids = pairs.map(([a, b]) => {
      assert.equal(a.status, 202, a.text);
      assert.equal(b.status, 202, b.text);
      assert.equal(a.body.id, b.body.id, "both requests of a pair name the same job");
      return a.body.id as string;
    });
    assert.equal(new Set(ids).size, keys.length);
    const listed = (await stack.ctx.jobs.list({ limit: 10_000 })).filter((j) => ids.includes(j.id));
    assert.equal(listed.length, keys.length, "one record per key");
    const queued = await stack.queues.jobs.getJobs(["waiting", "delayed", "prioritized"]);
    for (const id of ids) assert.equal(queued.filter((j) => j.id === id).length, 1, `${id} queued once`);
  });

  it("of two concurrent requests with one key and different bodies, exactly one wins; its body is kept", async () => {
    for (let i = 0; i < 10; i++) {
      const key = `key-${randomUUID()}`;
      const [a, b] = await Promise.all([
        post({ datasetId, epochs: 2 }, key),
        post({ datasetId, epochs: 3 }, key),
      ]);
      const statuses = [a.status, b.status].sort();
      assert.deepEqual(statuses, [202, 422], `pair ${i}: ${a.text} / ${b.text}`);
      const winner = a.status === 202 ? a : b;
      const job = await stack.ctx.jobs.get(winner.body.id);
      assert.equal(job?.params.epochs, winner === a ? 2 : 3, "the record holds the winner's body");
    }
  });

  it("GET /v1/jobs/:id of an unknown job is 404", async () => {
    assertError(await request(stack.app.server).get("/v1/jobs/job_doesnotexist"), 404, "NOT_FOUND");
    assertError(await request(stack.app.server).get("/v1/jobs/job_doesnotexist/events"), 404, "NOT_FOUND");
  });

  it("DELETE a queued job is 202 and cancels it; DELETE again is 409; unknown is 404", async () => {
    const { body } = await post({ datasetId });
    const del = await request(stack.app.server).delete(`/v1/jobs/${body.id}`);
    assert.equal(del.status, 202, del.text);
    assert.deepEqual(del.body, { id: body.id, state: "cancelled" });
    const job = await request(stack.app.server).get(`/v1/jobs/${body.id}`);
    assert.equal(job.body.state, "cancelled");
    assert.ok(!Number.isNaN(Date.parse(job.body.finishedAt)), "finishedAt is set");
    assert.equal(await stack.queues.jobs.getJob(body.id), undefined, "taken off the queue");
    const again = await request(stack.app.server).delete(`/v1/jobs/${body.id}`);
    assertError(again, 409, "JOB_FINISHED");
    assertError(await request(stack.app.server).delete("/v1/jobs/job_doesnotexist"), 404, "NOT_FOUND");
  });

  it("GET /v1/jobs lists newest first, filters by state, honours limit; bad filters are 400", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await post({ datasetId, seed: i })).body.id);
      await new Promise((r) => setTimeout(r, 5));
    }
    await request(stack.app.server).delete(`/v1/jobs/${ids[1]}`).expect(202);
    const api = request(stack.app.server);

    const all = await api.get("/v1/jobs");
    assert.equal(all.status, 200);
    assert.equal(all.body.nextCursor, null);
    const listed = all.body.items.map((j: { id: string }) => j.id);
    assert.deepEqual(listed.slice(0, 3), [ids[2], ids[1], ids[0]], "newest first");
    const times = all.body.items.map((j: { createdAt: string }) => Date.parse(j.createdAt));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => b - a),
    );

    const queued = await api.get("/v1/jobs?state=queued");
    assert.ok(queued.body.items.length >= 2);
    assert.ok(queued.body.items.every((j: { state: string }) => j.state === "queued"));
    assert.ok(!queued.body.items.some((j: { id: string }) => j.id === ids[1]));

    const cancelled = await api.get("/v1/jobs?state=cancelled");
    assert.ok(cancelled.body.items.some((j: { id: string }) => j.id === ids[1]));
    assert.ok(cancelled.body.items.every((j: { state: string }) => j.state === "cancelled"));

    const limited = await api.get("/v1/jobs?limit=2");
    assert.deepEqual(
      limited.body.items.map((j: { id: string }) => j.id),
      [ids[2], ids[1]],
    );
    const rest = await api.get(`/v1/jobs?limit=2&cursor=${limited.body.nextCursor}`);
    assert.equal(rest.status, 200, rest.text);
    assert.deepEqual(
      [...limited.body.items, ...rest.body.items].map((j: { id: string }) => j.id),
      listed.slice(0, 2 + rest.body.items.length),
      "the next page follows the first",
    );
    assert.equal(rest.body.items[0].id, ids[0]);
    const one = await api.get("/v1/jobs?state=queued&limit=1");
    assert.deepEqual(
      one.body.items.map((j: { id: string }) => j.id),
      [ids[2]],
    );
    assert.deepEqual((await api.get("/v1/jobs?state=completed")).body, { items: [], nextCursor: null });
    assertError(await api.get("/v1/jobs?cursor=garbage"), 400, "INVALID_CURSOR");

    assertError(await api.get("/v1/jobs?state=sleeping"), 400, "VALIDATION_ERROR");
    assertError(await api.get("/v1/jobs?limit=0"), 400, "VALIDATION_ERROR");
    assertError(await api.get("/v1/jobs?limit=abc"), 400, "VALIDATION_ERROR");
  });
});
