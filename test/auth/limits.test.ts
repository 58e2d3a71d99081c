/**
 * Per-key rate limits (counted in Redis) and per-tenant quotas, with AUTH on: a burst over
 * RATE_LIMIT_PER_MINUTE is 429 with Retry-After while another key goes on, and after the window the key
 * is served again; a tenant at QUOTA_DATASETS or QUOTA_CONCURRENT_JOBS gets 403 QUOTA_EXCEEDED while
 * another tenant is not affected.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import request from "supertest";
import { photoDatasetZip } from "../../scripts/lib/photos.js";
import { type Stack, startStack, waitFor } from "../helpers/stack.js";

const ADMIN = "admin-key-for-the-limits-test-0123456789";

async function newKey(stack: Stack, tenant: string): Promise<string> {
  const res = await request(stack.app.server)
    .post("/v1/keys")
    .set("authorization", `Bearer ${ADMIN}`)
    .send({ tenant, scopes: ["write"] });
  assert.equal(res.status, 201, res.text);
  return res.body.key as string;
}

const get = (stack: Stack, key: string, url: string) =>
  request(stack.app.server).get(url).set("authorization", `Bearer ${key}`);

test("a burst over RATE_LIMIT_PER_MINUTE is 429 with Retry-After; other keys go on; after the window, 200", {
  timeout: 180_000,
}, async () => {
  const stack = await startStack({ AUTH: "on", ADMIN_API_KEY: ADMIN, RATE_LIMIT_PER_MINUTE: "5" });
  try {
    const first = await newKey(stack, "a");
    const second = await newKey(stack, "a");
    const statuses: number[] = [];
    let limited: request.Response | undefined;
    for (let i = 0; i < 7; i++) {
      const res = await get(stack, first, "/v1/datasets");
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert.ok(limited);
    assert.equal(limited.body.error.code, "RATE_LIMITED");
    const retryAfter = Number(limited.headers["retry-after"]);
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal((await get(stack, second, "/v1/datasets")).status, 200, "another key has its own count");
    assert.equal((await request(stack.app.server).get("/healthz")).status, 200, "health is not counted");
    // The window ends when Redis expires the key's counter (60 s after its first request): bring that
    // expiry forward instead of waiting a minute, then the same key is served again.
    const counters = await stack.ctx.redis.keys(`${stack.env.QUEUE_PREFIX}:tls:ratelimit:*`);
    assert.ok(counters.length >= 2, `one counter per key: ${counters.join(", ")}`);
    for (const key of counters) {
      const ttl = await stack.ctx.redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 60_000, `${key} expires with its window (${ttl} ms)`);
      await stack.ctx.redis.pexpire(key, 1);
    }
    await waitFor(
      async () => ((await get(stack, first, "/v1/jobs")).status === 200 ? true : undefined),
      30_000,
      "the window to pass",
    );
  } finally {
    await stack.close();
  }
});

test("a tenant at its quota of datasets or concurrent jobs is 403 QUOTA_EXCEEDED; another tenant is not", {
  timeout: 180_000,
}, async () => {
  const stack = await startStack({
    AUTH: "on",
    ADMIN_API_KEY: ADMIN,
    RATE_LIMIT_PER_MINUTE: "0",
    QUOTA_DATASETS: "1",
    QUOTA_CONCURRENT_JOBS: "1",
  });
  try {
    const a = await newKey(stack, "a");
    const b = await newKey(stack, "b");
    const zip = await photoDatasetZip(["cat", "coffee"], { train: 3, test: 1 }, 61);
    const upload = (key: string) =>
      request(stack.app.server)
        .post("/v1/datasets")
        .set("authorization", `Bearer ${key}`)
        .attach("file", zip, "p.zip");
    const first = await upload(a);
    assert.equal(first.status, 202, first.text);
    const second = await upload(a);
    assert.equal(second.status, 403, second.text);
    assert.equal(second.body.error.code, "QUOTA_EXCEEDED");
    assert.match(second.body.error.message, /QUOTA_DATASETS/);
    assert.equal((await upload(b)).status, 202, "tenant b has its own quota");

    const datasetId = first.body.id as string;
    await waitFor(
      async () =>
        (await get(stack, a, `/v1/datasets/${datasetId}`)).body.state === "ready" ? true : undefined,
      120_000,
      "the dataset to be ready",
    );
    const job = () =>
      request(stack.app.server)
        .post("/v1/jobs")
        .set("authorization", `Bearer ${a}`)
        .send({ datasetId, epochs: 1 });
    assert.equal((await job()).status, 202, "no worker runs: the first job stays queued");
    const over = await job();
    assert.equal(over.status, 403, over.text);
    assert.equal(over.body.error.code, "QUOTA_EXCEEDED");
    assert.match(over.body.error.message, /QUOTA_CONCURRENT_JOBS/);
    assert.equal((await get(stack, a, "/v1/jobs")).body.items.length, 1, "the refused job was not created");
  } finally {
    await stack.close();
  }
});
