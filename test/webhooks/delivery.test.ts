import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { photoDatasetZip } from "../../scripts/lib/photos.js";
import type { JobRecord } from "../../src/jobs/schemas.js";
import { createDataset } from "../helpers/archives.js";
import { type Stack, startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";
import { type Received, type Receiver, signedWith, startReceiver } from "./receiver.js";

const SECRET = "whsec-test-0123456789abcdef";

describe("webhook deliveries to a real receiver", () => {
  let stack: Stack;
  let receiver: Receiver;
  let datasetId: string;
  let zip: Buffer;
  let worker: WorkerProcess | undefined;
  const api = () => request(stack.app.server);
  const getJob = async (id: string): Promise<JobRecord> => {
    const res = await api().get(`/v1/jobs/${id}`);
    assert.equal(res.status, 200, res.text);
    return res.body as JobRecord;
  };
  const postJob = async (path: string, body: Record<string, unknown> = {}): Promise<string> => {
    const res = await api()
      .post("/v1/jobs")
      .send({
        datasetId,
        epochs: 2,
        batchSize: 8,
        hiddenUnits: 32,
        ...body,
        webhook: { url: `${receiver.base}${path}`, secret: SECRET },
      });
    assert.equal(res.status, 202, res.text);
    return res.body.id as string;
  };
  /** Waits until the job record says its webhook is no longer pending. */
  const settled = (id: string, timeoutMs = 60_000) =>
    waitFor(
      async () => {
        const job = await getJob(id);
        return job.webhook && job.webhook.state !== "pending" ? job : undefined;
      },
      timeoutMs,
      `the webhook of job ${id} to be delivered${worker ? `; worker log tail:\n${worker.output().slice(-2000)}` : ""}`,
    );

  /** Checks one delivery against the job as GET returns it now (after delivery). */
  const assertDelivery = (got: Received, job: JobRecord, event: string, attempt: number) => {
    assert.match(String(got.headers["content-type"]), /^application\/json/);
    assert.ok(
      signedWith(got.body, SECRET, got.headers["x-signature-256"]),
      "X-Signature-256 signs the exact body",
    );
    assert.ok(
      !signedWith(got.body, `${SECRET}x`, got.headers["x-signature-256"]),
      "not under another secret",
    );
    assert.equal(got.headers["x-delivery-id"], job.webhook?.deliveryId);
    assert.match(String(got.headers["x-delivery-id"]), /^dlv_[0-9a-f]{32}$/);
    assert.equal(got.headers["x-delivery-attempt"], String(attempt));
    assert.equal(got.headers["x-event"], event);
    assert.match(String(got.headers["user-agent"]), /^transfer-server-webhook\//);
    const body = JSON.parse(got.body.toString("utf8")) as JobRecord;
    // The body is the job as GET returned it at delivery time: the same final job; only its webhook part has
    // moved on since (the delivery itself is recorded after it was sent).
    const { webhook: sentHook, ...sent } = body;
    const { webhook: nowHook, ...now } = job;
    assert.deepEqual(sent, now);
    assert.equal(sentHook?.url, nowHook?.url);
    assert.equal(sentHook?.deliveryId, nowHook?.deliveryId);
    assert.equal(sentHook?.state, "pending");
    assert.deepEqual(sentHook?.attempts, nowHook?.attempts.slice(0, attempt - 1));
    assert.ok(!got.body.toString("utf8").includes(SECRET), "the secret is not in the body");
  };

  before(async () => {
    // The receiver listens on 127.0.0.1: private addresses must be allowed for it.
    stack = await startStack({ WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_BACKOFF_MS: "50" });
    receiver = await startReceiver();
    zip = await photoDatasetZip(["cat", "coffee"], { train: 8, test: 2 }, 7);
    datasetId = await createDataset(stack, zip);
  });
  after(async () => {
    await stack?.close();
    await receiver?.close();
  });

  it("a job cancelled while queued is delivered once, signed, as job.cancelled", {
    timeout: 60_000,
  }, async () => {
    const id = await postJob("/cancelled");
    const queued = await getJob(id);
    assert.deepEqual(queued.webhook, { url: `${receiver.base}/cancelled`, state: "pending", attempts: [] });
    const cancel = await api().delete(`/v1/jobs/${id}`);
    assert.equal(cancel.status, 202, cancel.text);
    assert.equal(cancel.body.state, "cancelled");

    const job = await settled(id);
    assert.equal(job.state, "cancelled");
    assert.equal(job.webhook?.state, "delivered", JSON.stringify(job.webhook));
    assert.equal(job.webhook?.attempts.length, 1);
    const [a] = job.webhook?.attempts ?? [];
    assert.equal(a.attempt, 1);
    assert.equal(a.status, 200);
    assert.ok(!Number.isNaN(Date.parse(a.at)) && a.ms >= 0, JSON.stringify(a));
    const got = receiver.requests("/cancelled");
    assert.equal(got.length, 1, "exactly one delivery");
    assertDelivery(got[0], job, "job.cancelled", 1);
    assert.equal(JSON.parse(got[0].body.toString()).state, "cancelled");
  });

  it("a receiver that answers 500 twice then 200 gets it on the 3rd attempt, with one delivery id", {
    timeout: 60_000,
  }, async () => {
    receiver.script("/flaky", [500, 500, 200]);
    const id = await postJob("/flaky");
    assert.equal((await api().delete(`/v1/jobs/${id}`)).status, 202);

    const job = await settled(id);
    assert.equal(job.webhook?.state, "delivered", JSON.stringify(job.webhook));
    const attempts = job.webhook?.attempts ?? [];
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.status]),
      [
        [1, 500],
        [2, 500],
        [3, 200],
      ],
    );
    const got = receiver.requests("/flaky");
    assert.equal(got.length, 3);
    assert.equal(
      new Set(got.map((g) => g.headers["x-delivery-id"])).size,
      1,
      "one delivery id on every retry",
    );
    got.forEach((g, i) => {
      assertDelivery(g, job, "job.cancelled", i + 1);
    });
    assert.ok(
      Date.parse(attempts[1].at) > Date.parse(attempts[0].at) &&
        Date.parse(attempts[2].at) > Date.parse(attempts[1].at),
      "attempts in order",
    );
  });

  it("the secret is never shown: not by GET /v1/jobs/:id, the list, nor the event stream", {
    timeout: 60_000,
  }, async () => {
    const id = await postJob("/hidden");
    const one = await api().get(`/v1/jobs/${id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.webhook.url, `${receiver.base}/hidden`);
    assert.equal(one.body.params.webhook, undefined, "the webhook is not among the params");
    assert.ok(!one.text.includes(SECRET), one.text);
    assert.ok(!one.text.includes("secret"), "no secret field at all");
    const list = await api().get("/v1/jobs?limit=500");
    assert.equal(list.status, 200);
    assert.ok(list.body.items.some((j: JobRecord) => j.id === id));
    assert.ok(list.body.items.every((j: JobRecord) => !("secret" in (j.webhook ?? {}))));
    assert.ok(!list.text.includes(SECRET));
    assert.equal((await api().delete(`/v1/jobs/${id}`)).status, 202);
    await settled(id);
    const events = await api()
      .get(`/v1/jobs/${id}/events`)
      .buffer(true)
      .parse((res, cb) => {
        let text = "";
        res.on("data", (c: Buffer) => {
          text += c.toString();
        });
        res.on("end", () => cb(null, text));
      });
    assert.match(String(events.body), /event: end/);
    assert.ok(!String(events.body).includes(SECRET));
    const ended = await api().get(`/v1/jobs?limit=500`);
    assert.ok(!ended.text.includes(SECRET));
  });
  it("jobs a real train worker runs: one fails, one completes; each is delivered once, signed, with its event", {
    timeout: 240_000,
  }, async () => {
    // A job whose dataset is gone before the worker picks it up fails (DATASET_DELETED) on its first attempt.
    const doomed = await createDataset(stack, zip);
    const failing = await postJob("/failed", { datasetId: doomed });
    await rm(path.join(stack.dataDir, "datasets", doomed), { recursive: true });
    const id = await postJob("/completed");
    worker = stack.spawnWorker("train");

    const failed = await settled(failing, 60_000);
    assert.equal(failed.state, "failed", JSON.stringify(failed));
    assert.equal(failed.error?.code, "DATASET_DELETED");
    assert.equal(failed.webhook?.state, "delivered", JSON.stringify(failed.webhook));
    const gotFailed = receiver.requests("/failed");
    assert.equal(gotFailed.length, 1, "exactly one delivery");
    assertDelivery(gotFailed[0], failed, "job.failed", 1);
    assert.deepEqual(JSON.parse(gotFailed[0].body.toString()).error, failed.error);

    const job = await settled(id, 180_000);
    assert.equal(job.state, "completed", JSON.stringify(job.error));
    assert.ok(job.modelId, "the completed job has a model");
    assert.equal(job.webhook?.state, "delivered", JSON.stringify(job.webhook));
    assert.equal(job.webhook?.attempts.length, 1);
    const got = receiver.requests("/completed");
    assert.equal(got.length, 1, "exactly one delivery");
    assertDelivery(got[0], job, "job.completed", 1);
    const body = JSON.parse(got[0].body.toString());
    assert.equal(body.modelId, job.modelId);
    assert.equal(body.history.length, 2);
    assert.notEqual(got[0].headers["x-delivery-id"], gotFailed[0].headers["x-delivery-id"]);
    assert.equal(receiver.requests("/failed").length, 1, "still one delivery of the failed job");
  });
});
