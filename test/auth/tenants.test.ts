/**
 * API keys and tenants, with AUTH on: two tenants and three keys (tenant a: write and predict; tenant b:
 * write). Every route answers 404 for the other tenant's ids and lists never show them; a predict key
 * cannot upload, read or delete (403); no key, or a revoked one, is 401; health stays open; the keys are
 * nowhere in plain text, in Redis or in DATA_DIR. A real train worker makes tenant a's model.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { photo, photoDatasetZip } from "../../scripts/lib/photos.js";
import { type Stack, startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";

const ADMIN = "admin-key-for-the-tenant-test-0123456789";
let stack: Stack;
let worker: WorkerProcess;
let predictor: WorkerProcess;
const keys: Record<"a" | "aPredict" | "b", { id: string; key: string }> = {} as never;
let datasetId: string;
let jobId: string;
let modelId: string;

/** A request with `key` as Bearer token. */
function as(key: string | undefined, method: "get" | "post" | "delete", url: string) {
  const req = request(stack.app.server)[method](url);
  return key === undefined ? req : req.set("authorization", `Bearer ${key}`);
}

function assertError(res: request.Response, status: number, code: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body.error?.code, code, res.text);
}

async function createKey(
  tenant: string,
  scopes: string[],
  name: string,
): Promise<{ id: string; key: string }> {
  const res = await as(ADMIN, "post", "/v1/keys").send({ tenant, scopes, name });
  assert.equal(res.status, 201, res.text);
  assert.match(res.body.key, /^tls_key_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(res.body.scopes, scopes);
  assert.equal(res.body.tenant, tenant);
  return { id: res.body.id, key: res.body.key };
}

before(async () => {
  stack = await startStack({ AUTH: "on", ADMIN_API_KEY: ADMIN, RATE_LIMIT_PER_MINUTE: "0" });
  keys.a = await createKey("a", ["write"], "tenant a ci");
  keys.aPredict = await createKey("a", ["predict"], "tenant a app");
  keys.b = await createKey("b", ["write"], "tenant b ci");
  const zip = await photoDatasetZip(["cat", "coffee"], { train: 6, test: 2 }, 51);
  const up = await as(keys.a.key, "post", "/v1/datasets").attach("file", zip, "photos.zip");
  assert.equal(up.status, 202, up.text);
  datasetId = up.body.id;
  await waitFor(
    async () => {
      const res = await as(keys.a.key, "get", `/v1/datasets/${datasetId}`);
      return res.body.state === "ready" ? true : undefined;
    },
    120_000,
    "tenant a's dataset to be ready",
  );
  worker = stack.spawnWorker("train");
  predictor = stack.spawnWorker("predict");
  const job = await as(keys.a.key, "post", "/v1/jobs").send({ datasetId, epochs: 2, batchSize: 4 });
  assert.equal(job.status, 202, job.text);
  jobId = job.body.id;
  modelId = await waitFor(
    async () => {
      const res = await as(keys.a.key, "get", `/v1/jobs/${jobId}`);
      assert.notEqual(res.body.state, "failed", res.text);
      return res.body.state === "completed" ? (res.body.modelId as string) : undefined;
    },
    180_000,
    "tenant a's job to complete",
  );
});

after(async () => {
  for (const w of [worker, predictor]) {
    w?.child.kill("SIGKILL");
    await w?.exited;
  }
  await stack.close();
});

describe("keys and tenants", () => {
  it("no key, or a wrong one, is 401 with a challenge; health and readiness stay open", async () => {
    const none = await as(undefined, "get", "/v1/datasets");
    assertError(none, 401, "UNAUTHORIZED");
    assert.match(String(none.headers["www-authenticate"]), /^Bearer /);
    assertError(await as("tls_key_0123456789abcdef_x", "get", "/v1/jobs"), 401, "UNAUTHORIZED");
    assertError(await as(`${ADMIN}x`, "get", "/v1/models"), 401, "UNAUTHORIZED");
    assert.equal((await as(undefined, "get", "/healthz")).status, 200);
    assert.equal((await as(undefined, "get", "/readyz")).status, 200);
    const docs = await as(undefined, "get", "/docs");
    assertError(docs, 401, "UNAUTHORIZED");
    assert.match(
      String(docs.headers["www-authenticate"]),
      /^Basic realm=/,
      "a browser asks for the key once",
    );
    const basic = await request(stack.app.server).get("/docs").auth("", keys.a.key);
    assert.equal(basic.status, 200, "the key as the Basic password opens the docs");
  });

  it("every route answers 404 for the other tenant's ids, and lists never show them", async () => {
    const b = keys.b.key;
    const image = (await as(keys.a.key, "get", `/v1/datasets/${datasetId}/report`)).status;
    assert.equal(image, 200);
    for (const [method, url] of [
      ["get", `/v1/datasets/${datasetId}`],
      ["get", `/v1/datasets/${datasetId}/report`],
      ["get", `/v1/datasets/${datasetId}/images/train/cat/cat-0.jpg`],
      ["delete", `/v1/datasets/${datasetId}`],
      ["get", `/v1/jobs/${jobId}`],
      ["get", `/v1/jobs/${jobId}/events`],
      ["delete", `/v1/jobs/${jobId}`],
      ["get", `/v1/models/${modelId}`],
      ["get", `/v1/models/${modelId}/misclassified`],
      ["delete", `/v1/models/${modelId}`],
    ] as const) {
      assertError(await as(b, method, url), 404, "NOT_FOUND");
    }
    const predict = await as(b, "post", `/v1/models/${modelId}/predict`)
      .set("content-type", "image/jpeg")
      .send(photo("cat"));
    assertError(predict, 404, "NOT_FOUND");
    const batch = await as(b, "post", `/v1/models/${modelId}/predictions`).send({ datasetId });
    assertError(batch, 404, "NOT_FOUND");
    assertError(await as(b, "post", "/v1/jobs").send({ datasetId, epochs: 1 }), 422, "UNKNOWN_DATASET");
    for (const list of ["/v1/datasets", "/v1/jobs", "/v1/models"]) {
      const res = await as(b, "get", list);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body.items, [], `${list} of tenant b`);
      const mine = await as(keys.a.key, "get", list);
      assert.equal(mine.body.items.length, 1, `${list} of tenant a`);
    }
    assert.equal((await as(keys.a.key, "get", `/v1/models/${modelId}`)).body.tenant, "a");
    const features = await readdir(stack.ctx.paths.features);
    assert.deepEqual(features, ["t-a"], "tenant a's cached features are in its own folder");
  });

  it("a predict key predicts, and may do nothing else (403)", async () => {
    const p = keys.aPredict.key;
    const ok = await as(p, "post", `/v1/models/${modelId}/predict`)
      .set("content-type", "image/jpeg")
      .send(photo("coffee"));
    assert.equal(ok.status, 200, ok.text);
    assert.ok(Array.isArray(ok.body.predictions));
    const zip = await photoDatasetZip(["cat", "coffee"], { train: 2, test: 1 }, 52);
    const forbidden = [
      as(p, "post", "/v1/datasets").attach("file", zip, "x.zip"),
      as(p, "delete", `/v1/datasets/${datasetId}`),
      as(p, "delete", `/v1/models/${modelId}`),
      as(p, "get", "/v1/datasets"),
      as(p, "get", `/v1/models/${modelId}`),
      as(p, "post", "/v1/jobs").send({ datasetId }),
      as(p, "post", "/v1/keys").send({ scopes: ["admin"] }),
      as(keys.a.key, "get", "/v1/keys"),
    ];
    for (const res of await Promise.all(forbidden)) assertError(res, 403, "INSUFFICIENT_SCOPE");
    assert.equal(
      (await as(ADMIN, "get", `/v1/datasets/${datasetId}`)).status,
      404,
      "admin of another tenant",
    );
  });

  it("keys are listed without secrets, revoked at once, and stored nowhere in plain text", async () => {
    const listed = await as(ADMIN, "get", "/v1/keys");
    assert.equal(listed.status, 200);
    assert.equal(listed.body.items.length, 3);
    for (const k of listed.body.items) {
      assert.deepEqual(Object.keys(k).sort(), ["createdAt", "id", "name", "scopes", "tenant"]);
    }
    const doomed = await createKey("a", ["predict"], "doomed");
    assert.equal(
      (
        await as(doomed.key, "post", `/v1/models/${modelId}/predict`)
          .set("content-type", "image/jpeg")
          .send(photo("cat"))
      ).status,
      200,
    );
    assert.equal((await as(ADMIN, "delete", `/v1/keys/${doomed.id}`)).status, 204);
    assertError(
      await as(doomed.key, "post", `/v1/models/${modelId}/predict`).send(photo("cat")),
      401,
      "UNAUTHORIZED",
    );
    assertError(await as(ADMIN, "delete", `/v1/keys/${doomed.id}`), 404, "NOT_FOUND");

    const secrets = [ADMIN, ...Object.values(keys).map((k) => k.key), doomed.key];
    const fragments = secrets.flatMap((s) => [s, s.slice(-43)]);
    const prefix = stack.env.QUEUE_PREFIX;
    const redisKeys = await stack.ctx.redis.keys(`${prefix}:*`);
    assert.ok(redisKeys.length > 10, "the scan sees the stack's keys");
    for (const key of redisKeys) {
      const dump = await stack.ctx.redis.dumpBuffer(key);
      const text = `${key}\n${dump?.toString("latin1") ?? ""}`;
      for (const f of fragments) assert.ok(!text.includes(f), `a key in plain text in Redis key ${key}`);
    }
    let files = 0;
    for (const entry of await readdir(stack.dataDir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const text = (await readFile(path.join(entry.parentPath, entry.name))).toString("latin1");
      for (const f of fragments) assert.ok(!text.includes(f), `a key in plain text in ${entry.name}`);
      files++;
    }
    assert.ok(files > 5, `the scan read DATA_DIR (${files} files)`);
  });
});
