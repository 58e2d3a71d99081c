/**
 * GET /v1/models/:id/misclassified: a model trained by a real worker on photos whose test split has
 * mislabelled images (coffee photos filed as cat and the other way round) lists exactly its errors, most
 * confident first, by confusion-matrix cell, in pages, each with a URL that serves the image.
 */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import request from "supertest";
import { photoVariants } from "../../scripts/lib/photos.js";
import { assertError, createDataset, rawZip } from "../helpers/archives.js";
import { type Stack, startStack, type WorkerProcess } from "../helpers/stack.js";
import { createJob, waitCompleted } from "../workers/train-worker-lib.js";

let stack: Stack;
let worker: WorkerProcess;
let modelId: string;
const api = () => request(stack.app.server);

interface Item {
  path: string;
  trueLabel: string;
  predicted: string;
  probability: number;
  imageUrl: string;
}

before(async () => {
  stack = await startStack();
  const [cats, coffees] = await Promise.all([photoVariants("cat", 9, 71), photoVariants("coffee", 9, 72)]);
  const entries = [
    ...cats.slice(0, 6).map((data, i) => ({ name: `train/cat/c${i}.jpg`, data })),
    ...coffees.slice(0, 6).map((data, i) => ({ name: `train/coffee/k${i}.jpg`, data })),
    { name: "test/cat/c6.jpg", data: cats[6] },
    { name: "test/cat/wrong-k7.jpg", data: coffees[7] },
    { name: "test/cat/wrong-k8.jpg", data: coffees[8] },
    { name: "test/coffee/k6.jpg", data: coffees[6] },
    { name: "test/coffee/wrong-c7.jpg", data: cats[7] },
  ];
  const datasetId = await createDataset(stack, await rawZip(entries), "mislabelled.zip");
  worker = stack.spawnWorker("train");
  const jobId = await createJob(stack, datasetId, { epochs: 8, batchSize: 4, seed: 3 });
  modelId = (await waitCompleted(stack, jobId, worker, 180_000)).modelId as string;
});
after(async () => {
  worker?.child.kill("SIGKILL");
  await worker?.exited;
  await stack.close();
});

it("lists the test split's errors, most confident first, by cell and in pages, with their images", async () => {
  const model = (await api().get(`/v1/models/${modelId}`)).body;
  assert.equal(model.metrics.split, "test");
  const all = await api().get(`/v1/models/${modelId}/misclassified`);
  assert.equal(all.status, 200, all.text);
  const items = all.body.items as Item[];
  const confusion = model.metrics.confusionMatrix as number[][];
  const offDiagonal = confusion.flatMap((row, i) => row.filter((_, j) => j !== i)).reduce((a, b) => a + b, 0);
  assert.equal(items.length, offDiagonal, "one item per error of the confusion matrix");
  assert.ok(items.length >= 2, `the mislabelled photos are errors: ${JSON.stringify(items)}`);
  assert.ok(
    items.every((m) => m.path.includes("wrong-")),
    JSON.stringify(items),
  );
  const probs = items.map((m) => m.probability);
  assert.deepEqual(
    probs,
    [...probs].sort((a, b) => b - a),
    "most confident first",
  );
  assert.equal(all.body.nextCursor, null);

  const cell = await api().get(`/v1/models/${modelId}/misclassified?trueLabel=cat&predicted=coffee`);
  assert.deepEqual(
    cell.body.items,
    items.filter((m) => m.trueLabel === "cat" && m.predicted === "coffee"),
  );

  const seen: Item[] = [];
  let cursor: string | null = null;
  do {
    const page = await api()
      .get(`/v1/models/${modelId}/misclassified`)
      .query({ limit: 1, ...(cursor ? { cursor } : {}) });
    assert.equal(page.status, 200, page.text);
    seen.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  assert.deepEqual(seen, items, "pages of one walk the whole list");

  const image = await api().get(items[0].imageUrl);
  assert.equal(image.status, 200);
  assert.equal(image.headers["content-type"], "image/jpeg");
  assertError(await api().get(`/v1/models/${modelId}/misclassified?cursor=bm9wZQ`), 400, "INVALID_CURSOR");
  assertError(await api().get("/v1/models/mdl_0123/misclassified"), 404, "NOT_FOUND");
});
