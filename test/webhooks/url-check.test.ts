import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { photoDatasetZip } from "../../scripts/lib/photos.js";
import type { JobRecord } from "../../src/jobs/schemas.js";
import { enqueueJob, newJobId } from "../../src/jobs/service.js";
import { assertError, createDataset } from "../helpers/archives.js";
import { type Stack, startStack, waitFor } from "../helpers/stack.js";
import { type Receiver, startReceiver } from "./receiver.js";

const SECRET = "whsec-test-0123456789abcdef";

describe("webhook URLs without WEBHOOK_ALLOW_PRIVATE", () => {
  let stack: Stack;
  let receiver: Receiver;
  let datasetId: string;
  const api = () => request(stack.app.server);
  const post = (url: string, secret = SECRET) =>
    api().post("/v1/jobs").send({ datasetId, epochs: 1, webhook: { url, secret } });

  before(async () => {
    stack = await startStack();
    assert.equal(stack.ctx.config.WEBHOOK_ALLOW_PRIVATE, false, "the default refuses private addresses");
    receiver = await startReceiver();
    datasetId = await createDataset(
      stack,
      await photoDatasetZip(["cat", "coffee"], { train: 4, test: 1 }, 3),
    );
  });
  after(async () => {
    await stack?.close();
    await receiver?.close();
  });

  it("refuses loopback and private addresses with 422 WEBHOOK_URL_REFUSED naming the address, and creates no job", {
    timeout: 60_000,
  }, async () => {
    const cases: [url: string, address: RegExp][] = [
      [`${receiver.base}/hook`, /127\.0\.0\.1 is loopback/],
      ["http://localhost/hook", /(127\.0\.0\.1|::1) is loopback \(host 'localhost' resolves to it\)/],
      ["http://10.1.2.3/", /10\.1\.2\.3 is private \(RFC 1918\)/],
      ["http://[::1]/", /::1 is loopback/],
      ["https://[::ffff:192.168.0.1]:8443/x", /::ffff:c0a8:1 is private \(RFC 1918\)/],
      ["http://169.254.169.254/latest/meta-data", /169\.254\.169\.254 is link-local/],
      ["http://100.64.0.1/", /100\.64\.0\.1 is carrier-grade NAT/],
      ["http://[fd00::1]/", /fd00::1 is unique-local/],
      ["http://0.0.0.0:8080/", /0\.0\.0\.0 is unspecified/],
      ["http://2130706433/", /127\.0\.0\.1 is loopback/],
    ];
    for (const [url, reason] of cases) {
      const res = await post(url);
      assertError(res, 422, "WEBHOOK_URL_REFUSED");
      assert.match(res.body.error.message, reason, url);
    }
    const jobs = await api().get("/v1/jobs");
    assert.equal(jobs.status, 200);
    assert.deepEqual(jobs.body.items, [], "no job was created");
  });

  it("rejects a URL that is not http(s) and a short secret with 400", { timeout: 30_000 }, async () => {
    assertError(await post("ftp://93.184.215.14/x"), 400);
    assertError(await post("http://93.184.215.14/x", "short"), 400);
    assertError(
      await api()
        .post("/v1/jobs")
        .send({ datasetId, webhook: { url: "http://93.184.215.14/x" } }),
      400,
    );
  });

  it("accepts a public literal address (nothing is sent before the job ends) and shows only its URL", {
    timeout: 30_000,
  }, async () => {
    const res = await post("http://93.184.215.14/hook");
    assert.equal(res.status, 202, res.text);
    const job = await api().get(`/v1/jobs/${res.body.id}`);
    assert.equal(job.status, 200);
    assert.deepEqual(job.body.webhook, { url: "http://93.184.215.14/hook", state: "pending", attempts: [] });
    assert.ok(!job.text.includes(SECRET));
    assert.equal(job.body.params.webhook, undefined);
    const again = await api().get("/v1/jobs");
    assert.equal(again.body.items.length, 1);
    assert.ok(!again.text.includes(SECRET));
  });

  it("checks again at delivery: an address refused then fails the delivery at once, sends nothing, and is recorded", {
    timeout: 60_000,
  }, async () => {
    // A job whose URL passed its check at creation and now points at loopback (as after a DNS rebinding):
    // recorded directly, since the API would refuse it today.
    const { record } = await enqueueJob(stack.ctx, stack.queues, {
      id: newJobId(),
      type: "train",
      params: { datasetId },
      webhook: { url: `${receiver.base}/rebound`, secret: SECRET },
    });
    assert.equal((await api().delete(`/v1/jobs/${record.id}`)).status, 202);
    const job = await waitFor(
      async () => {
        const j = (await api().get(`/v1/jobs/${record.id}`)).body as JobRecord;
        return j.webhook?.state === "pending" ? undefined : j;
      },
      30_000,
      "the delivery to be settled",
    );
    assert.equal(job.webhook?.state, "failed", JSON.stringify(job.webhook));
    assert.equal(job.webhook?.attempts.length, 1, "a refused address is not retried");
    assert.match(job.webhook?.attempts[0].error ?? "", /127\.0\.0\.1 is loopback/);
    assert.equal(job.webhook?.attempts[0].status, undefined);
    assert.equal(receiver.requests("/rebound").length, 0, "nothing was sent");

    // The worker lives on: the next delivery (to a refused address too) is worked on as well.
    const next = await enqueueJob(stack.ctx, stack.queues, {
      id: newJobId(),
      type: "train",
      params: { datasetId },
      webhook: { url: "http://[::1]:9/x", secret: SECRET },
    });
    assert.equal((await api().delete(`/v1/jobs/${next.record.id}`)).status, 202);
    const second = await waitFor(
      async () => {
        const j = await stack.ctx.jobs.get(next.record.id);
        return j?.webhook?.state === "pending" ? undefined : j;
      },
      30_000,
      "the second delivery to be settled",
    );
    assert.match(second.webhook?.attempts[0].error ?? "", /::1 is loopback/);
  });
});
