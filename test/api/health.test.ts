import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type ConnectionOptions, Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import request from "supertest";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createContext } from "../../src/context.js";
import { createLogger } from "../../src/logger.js";
import {
  createRedis,
  INGEST_QUEUE,
  type IngestPayload,
  JOBS_QUEUE,
  type JobPayload,
  openQueues,
  PREDICT_QUEUE,
  type PredictPayload,
  type PredictResult,
} from "../../src/queues.js";
import { assertError } from "../helpers/archives.js";
import { type Stack, startStack, waitFor } from "../helpers/stack.js";

const V1_PATHS = [
  "/v1/backbones",
  "/v1/datasets",
  "/v1/datasets/{id}",
  "/v1/datasets/{id}/images/{path}",
  "/v1/datasets/{id}/report",
  "/v1/jobs",
  "/v1/jobs/{id}",
  "/v1/jobs/{id}/events",
  "/v1/keys",
  "/v1/keys/{id}",
  "/v1/models",
  "/v1/models/{id}",
  "/v1/models/{id}/export",
  "/v1/models/{id}/misclassified",
  "/v1/models/{id}/predict",
  "/v1/models/{id}/predictions",
];

describe("operations and backbones", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  it("GET /healthz is 200 {status: ok}", async () => {
    const res = await request(stack.app.server).get("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: "ok" });
  });

  it("GET /readyz is 200 and writes to Redis", async () => {
    const res = await request(stack.app.server).get("/readyz");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, "ready");
    assert.equal(typeof res.body.redisMs, "number");
    const keys = await stack.ctx.redis.keys(`${stack.env.QUEUE_PREFIX}:tls:readyz:*`);
    assert.equal(keys.length, 1, "readyz wrote its probe key under the queue prefix");
  });

  it("closing the queues closes every Redis connection openQueues opened", async () => {
    const redis = createRedis(stack.ctx.config.redisUrl);
    const queues = openQueues(redis, `${stack.env.QUEUE_PREFIX}-leak`);
    await queues.predictEvents.waitUntilReady();
    const eventsConn = queues.predictEvents.opts.connection as unknown as Redis;
    assert.notEqual(eventsConn, redis);
    await queues.close();
    const closed = await waitFor(
      async () => (eventsConn.status === "end" ? true : undefined),
      3000,
      "end",
    ).catch(() => false);
    const status = eventsConn.status;
    if (!closed) eventsConn.disconnect();
    redis.disconnect();
    assert.equal(status, "end", "the connection duplicated for QueueEvents is still open after close()");
  });

  it("GET /openapi.json is an OpenAPI 3 document listing every /v1 path", async () => {
    const res = await request(stack.app.server).get("/openapi.json");
    assert.equal(res.status, 200);
    assert.match(res.body.openapi, /^3\./);
    assert.equal(typeof res.body.info.title, "string");
    const paths = Object.keys(res.body.paths);
    for (const p of [...V1_PATHS, "/healthz", "/readyz"]) assert.ok(paths.includes(p), `missing ${p}`);
    assert.deepEqual(
      paths.filter((p) => p.startsWith("/v1/")).sort(),
      [...V1_PATHS].sort(),
      "no unexpected /v1 path",
    );
    const methods = (p: string) => Object.keys(res.body.paths[p]).sort();
    assert.deepEqual(methods("/v1/datasets"), ["get", "post"]);
    assert.deepEqual(methods("/v1/datasets/{id}"), ["delete", "get"]);
    assert.deepEqual(methods("/v1/jobs/{id}"), ["delete", "get"]);
    assert.deepEqual(methods("/v1/models/{id}"), ["delete", "get"]);
    assert.deepEqual(methods("/v1/models/{id}/predict"), ["post"]);
    assert.ok(res.body.paths["/v1/jobs"].post.requestBody, "POST /v1/jobs documents its body");
  });

  it("GET /docs serves the HTML documentation", async () => {
    const res = await request(stack.app.server).get("/docs").redirects(5);
    assert.equal(res.status, 200);
    assert.match(String(res.headers["content-type"]), /text\/html/);
    assert.match(res.text, /<html/i);
    assert.match(res.text, /swagger/i);
  });

  it("an unknown route is 404 in the error shape", async () => {
    const res = await request(stack.app.server).get("/v1/nope?x=1");
    assertError(res, 404, "NOT_FOUND");
    assert.match(res.body.error.message, /\/v1\/nope/);
    assertError(await request(stack.app.server).put("/healthz"), 404, "NOT_FOUND");
  });

  it("GET /v1/backbones lists mobilenet_v2 as the default (3856 multi-depth features, 224 input)", async () => {
    const res = await request(stack.app.server).get("/v1/backbones");
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.body.items) && res.body.items.length >= 1);
    assert.equal(res.body.nextCursor, null);
    const mobilenet = res.body.items.find((b: { id: string }) => b.id === "mobilenet_v2");
    assert.ok(mobilenet, "mobilenet_v2 is listed");
    assert.equal(mobilenet.default, true);
    assert.equal(mobilenet.featureDim, 3856);
    assert.equal(mobilenet.inputSize, 224);
    assert.ok(["onnx", "tfjs-layers", "tfjs-graph"].includes(mobilenet.format));
    assert.match(mobilenet.runtime, /\S/);
    assert.equal(
      res.body.items.filter((b: { default: boolean }) => b.default).length,
      1,
      "exactly one default",
    );
  });
});

/**
 * An app whose Redis is unreachable. Built by hand: the stack helper's close() would wait forever on a
 * dead Redis (obliterate, QueueEvents). The queues' connection never retries, so they can be closed.
 */
describe("readiness with Redis down", () => {
  let dataDir: string;
  let conn: Redis;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let close: () => Promise<void>;
  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "tls-test-dead-"));
    const config = loadConfig({
      DATA_DIR: dataDir,
      QUEUE_PREFIX: "test-dead",
      LOG_LEVEL: "silent",
      REDIS_URL: "redis://127.0.0.1:1",
    });
    const ctx = createContext(config, createLogger("silent", "test"));
    conn = new Redis(config.redisUrl, { maxRetriesPerRequest: null, retryStrategy: () => null });
    conn.on("error", () => undefined);
    const opts = { connection: conn as unknown as ConnectionOptions, prefix: config.QUEUE_PREFIX };
    const jobs = new Queue<JobPayload>(JOBS_QUEUE, opts);
    const ingest = new Queue<IngestPayload>(INGEST_QUEUE, opts);
    const predict = new Queue<PredictPayload, PredictResult>(PREDICT_QUEUE, opts);
    const predictEvents = new QueueEvents(PREDICT_QUEUE, { ...opts, autorun: false });
    jobs.on("error", () => undefined);
    ingest.on("error", () => undefined);
    predict.on("error", () => undefined);
    predictEvents.on("error", () => undefined);
    const all = () =>
      Promise.allSettled([jobs.close(), ingest.close(), predict.close(), predictEvents.close()]);
    app = await buildApp({
      ctx,
      queues: { jobs, ingest, predict, predictEvents, close: async () => void (await all()) },
    });
    await app.ready();
    close = async () => {
      await app.close();
      await all();
      conn.disconnect();
      await ctx.close();
    };
  });
  after(async () => {
    await close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("GET /readyz is 503 REDIS_UNAVAILABLE with a message that says why", async () => {
    const res = await request(app.server).get("/readyz");
    assertError(res, 503, "REDIS_UNAVAILABLE");
    // A deliberate 503 tells the client what is down; "internal server error" says nothing true.
    assert.match(res.body.error.message, /redis/i);
  });

  it("GET /healthz is still 200 (the process is up)", async () => {
    const res = await request(app.server).get("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: "ok" });
  });
});
