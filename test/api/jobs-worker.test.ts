import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { photoDatasetZip } from "../../scripts/lib/photos.js";
import { assertError, createDataset } from "../helpers/archives.js";
import { type Stack, startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";

interface SseEvent {
  event: string;
  data: string;
  id: string;
}

/** GETs an SSE stream with http.get and collects its events until the server ends it. */
function readSse(url: string, timeoutMs: number, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; type: string; events: SseEvent[] }>((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => {
        clearTimeout(timer);
        const events = text
          .split("\n\n")
          .filter((block) => block.trim() !== "" && !block.startsWith(":"))
          .map((block) => {
            const field = (name: string) =>
              block
                .split("\n")
                .filter((l) => l.startsWith(`${name}: `))
                .map((l) => l.slice(name.length + 2))
                .join("\n");
            return { event: field("event"), data: field("data"), id: field("id") };
          });
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), events });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`SSE stream ${url} did not end within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("error", reject);
  });
}

const ORDER = ["queued", "running", "completed"];

describe("jobs with a train worker", () => {
  let stack: Stack;
  let base: string;
  let zip: Buffer;
  let worker: WorkerProcess | undefined;
  const job = async (id: string) => (await request(stack.app.server).get(`/v1/jobs/${id}`)).body;
  before(async () => {
    stack = await startStack();
    await stack.app.listen({ port: 0, host: "127.0.0.1" });
    base = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    zip = await photoDatasetZip(["cat", "coffee"], { train: 8, test: 2 }, 7);
  });
  after(() => stack.close());

  it("a queued job keeps its dataset (409 DATASET_IN_USE); one whose dataset is gone before a worker picks it up fails with DATASET_DELETED", async () => {
    const datasetId = await createDataset(stack, zip);
    const posted = await request(stack.app.server).post("/v1/jobs").send({ datasetId, epochs: 2 });
    assert.equal(posted.status, 202);
    assertError(await request(stack.app.server).delete(`/v1/datasets/${datasetId}`), 409, "DATASET_IN_USE");
    // Gone anyway (removed by hand, or lost): the worker still checks.
    await rm(path.join(stack.dataDir, "datasets", datasetId), { recursive: true });
    worker = stack.spawnWorker("train");
    const failed = await waitFor(
      async () => {
        const j = await job(posted.body.id);
        return j.state === "failed" || j.state === "completed" ? j : undefined;
      },
      60_000,
      "the job to fail",
    );
    assert.equal(failed.state, "failed", JSON.stringify(failed));
    assert.equal(failed.error?.code, "DATASET_DELETED");
    assert.match(failed.error.message, new RegExp(datasetId));
    assert.ok(!Number.isNaN(Date.parse(failed.finishedAt)));
    assert.equal(failed.modelId, undefined);
    assert.equal(failed.attempts, 1, "an unrecoverable failure is not retried");
    assertError(await request(stack.app.server).delete(`/v1/jobs/${failed.id}`), 409, "JOB_FINISHED");
  });

  it("GET /v1/jobs/:id/events streams `progress` events, then `end`, then closes", async () => {
    assert.ok(worker, "the worker of the previous test is running");
    const datasetId = await createDataset(stack, zip);
    const posted = await request(stack.app.server)
      .post("/v1/jobs")
      .send({ datasetId, epochs: 2, batchSize: 8, hiddenUnits: 32 });
    assert.equal(posted.status, 202);
    const id = posted.body.id as string;

    const sse = await readSse(`${base}/v1/jobs/${id}/events`, 120_000);
    assert.equal(sse.status, 200);
    assert.match(sse.type, /^text\/event-stream/);
    const names = sse.events.map((e) => e.event);
    assert.ok(names.length >= 3, `progress, progress, end at least: ${names.join(",")}`);
    assert.ok(
      names.slice(0, -1).every((n) => n === "progress" || n === "epoch"),
      names.join(","),
    );
    assert.equal(names.at(-1), "end");
    assert.deepEqual(JSON.parse(sse.events.at(-1)!.data), { id, state: "completed" });
    const seqs = sse.events.map((e) => Number(e.id.split(".")[1]));
    assert.deepEqual(
      seqs,
      [...seqs.keys()].map((i) => i + 1),
      "every event has an id, in order",
    );
    const epochs = sse.events.filter((e) => e.event === "epoch");
    const progress = sse.events.filter((e) => e.event === "progress").map((e) => JSON.parse(e.data));
    const states = progress.map((p) => p.state as string);
    assert.ok(progress.every((p) => p.id === id && p.type === "train"));
    assert.deepEqual(
      states,
      [...states].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b)),
      "states only move forward",
    );
    assert.ok(new Set(states).size >= 2, `the stream saw the job change state: ${states.join(",")}`);
    const last = progress.at(-1);
    assert.equal(last.state, "completed");
    assert.deepEqual(last, await job(id), "the last progress event is the job as GET returns it");
    assert.equal(last.history.length, 2);
    assert.deepEqual(
      epochs.map((e) => JSON.parse(e.data)),
      last.history,
      "one `epoch` event per epoch, each the history entry",
    );
    for (const p of progress.filter((q) => q.progress)) {
      assert.ok(p.progress.percent >= 0 && p.progress.percent <= 100, JSON.stringify(p.progress));
    }

    const done = await readSse(`${base}/v1/jobs/${id}/events`, 10_000);
    assert.deepEqual(
      done.events.map((e) => e.event),
      ["epoch", "epoch", "progress", "end"],
      "a finished job's stream replays its epochs, then its record, then end",
    );
    const resumed = await readSse(`${base}/v1/jobs/${id}/events`, 10_000, {
      "last-event-id": epochs.at(-1)!.id,
    });
    assert.deepEqual(
      resumed.events.map((e) => e.event),
      ["progress", "end"],
      "a client that resumes after the last epoch does not get the epochs again",
    );
    assert.ok(Number(resumed.events[0].id.split(".")[1]) > Number(epochs.at(-1)!.id.split(".")[1]));
  });
});
