/**
 * The API while its Redis is away: calls that need Redis answer 503 REDIS_UNAVAILABLE (with Retry-After)
 * within seconds instead of hanging for the outage, a POST that failed created nothing, and everything
 * works again once Redis is back. The Redis is the test's own, killed and restarted for real.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import request from "supertest";
import { createDataset, imageEntries, rawZip } from "../helpers/archives.js";
import { type OwnRedis, startOwnRedis } from "../helpers/redis-server.js";
import { type Stack, startStack, waitFor } from "../helpers/stack.js";

let redis: OwnRedis;
let stack: Stack;
let datasetId: string;

before(async () => {
  redis = await startOwnRedis();
  stack = await startStack({ REDIS_URL: redis.url });
  datasetId = await createDataset(stack, await rawZip(imageEntries(["cat", "coffee"], 2)));
});
after(async () => {
  await redis.restart().catch(() => undefined);
  await stack.close();
  await redis.close();
});

test("with Redis killed, Redis-backed calls answer 503 REDIS_UNAVAILABLE in seconds; the API recovers", {
  timeout: 120_000,
}, async (t) => {
  const api = () => request(stack.app.server);
  const queued = await api().post("/v1/jobs").send({ datasetId, epochs: 1 });
  assert.equal(queued.status, 202, queued.text);
  await redis.kill();

  const timed = async (label: string, call: () => Promise<request.Response>) => {
    const started = performance.now();
    const res = await call();
    t.diagnostic(`${label}: ${res.status} after ${((performance.now() - started) / 1000).toFixed(2)} s`);
    return res;
  };
  const reasons = [
    await timed("GET /v1/jobs/:id", () => api().get(`/v1/jobs/${queued.body.id}`)),
    await timed("GET /v1/jobs", () => api().get("/v1/jobs")),
    await timed("POST /v1/jobs", () =>
      api().post("/v1/jobs").set("idempotency-key", "during-outage").send({ datasetId, epochs: 2 }),
    ),
    await timed("DELETE /v1/jobs/:id", () => api().delete(`/v1/jobs/${queued.body.id}`)),
  ];
  for (const res of reasons) {
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body.error.code, "REDIS_UNAVAILABLE");
    assert.equal(res.headers["retry-after"], "5");
  }
  const ready = await timed("GET /readyz", () => api().get("/readyz"));
  assert.equal(ready.status, 503);
  const datasets = await api().get(`/v1/datasets/${datasetId}`);
  assert.equal(datasets.status, 200, "what lives on disk is still served");

  await redis.restart();
  const again = await waitFor(
    async () => {
      const res = await api().get(`/v1/jobs/${queued.body.id}`);
      return res.status === 200 ? res : undefined;
    },
    30_000,
    "the API to reach Redis again",
  );
  assert.equal(again.body.state, "queued", "the job queued before the outage is still there");
  const listed = await api().get("/v1/jobs");
  assert.deepEqual(
    listed.body.items.map((j: { id: string }) => j.id),
    [queued.body.id],
    "the POST that failed during the outage created no job",
  );
  const retried = await api()
    .post("/v1/jobs")
    .set("idempotency-key", "during-outage")
    .send({ datasetId, epochs: 2 });
  assert.equal(retried.status, 202, "the client's retry after the outage creates the job once");
});

test("with Redis frozen (connection open, no answers), calls answer 503 after the command timeout", {
  timeout: 120_000,
}, async (t) => {
  const api = () => request(stack.app.server);
  const before = await api().get("/v1/jobs");
  assert.equal(before.status, 200);
  redis.pause();
  try {
    const started = performance.now();
    const res = await api().get("/v1/jobs");
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`GET /v1/jobs with Redis frozen: ${res.status} after ${seconds.toFixed(2)} s`);
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body.error.code, "REDIS_UNAVAILABLE");
  } finally {
    redis.resume();
  }
  const after = await waitFor(
    async () => {
      const res = await api().get("/v1/jobs");
      return res.status === 200 ? res : undefined;
    },
    30_000,
    "the API to answer again",
  );
  assert.equal(after.status, 200);
});
