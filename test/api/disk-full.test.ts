/**
 * A full disk: uploads answer 507 INSUFFICIENT_STORAGE and leave nothing behind, the API refuses uploads
 * before the disk is full (MIN_FREE_DISK_MB), /readyz reports low space and a disk it cannot write, and an
 * ingestion that runs out of space fails once with INSUFFICIENT_STORAGE. DATA_DIR is a real tmpfs of a few
 * MiB that the tests fill.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import request from "supertest";
import { photoDatasetZip } from "../../scripts/lib/photos.js";
import { createIngestWorker } from "../../src/datasets/ingest-worker.js";
import {
  assertError,
  assertIngestFailed,
  assertNoLeftovers,
  createDataset,
  uploadDataset,
  waitForDataset,
} from "../helpers/archives.js";
import { mountSmallDisk, type SmallDisk } from "../helpers/small-disk.js";
import { type Stack, startStack } from "../helpers/stack.js";

const MiB = 1024 ** 2;

async function withDisk(
  sizeBytes: number,
  env: Record<string, string>,
  options: { ingest?: boolean },
  body: (stack: Stack, disk: SmallDisk) => Promise<void>,
): Promise<void> {
  const disk = await mountSmallDisk(sizeBytes);
  try {
    const stack = await startStack(env, { ...options, dataDir: disk.dir });
    try {
      await body(stack, disk);
    } finally {
      await stack.close();
    }
  } finally {
    await disk.close();
  }
}

test("below MIN_FREE_DISK_MB /readyz says low and uploads are refused with 507 before they are read", {
  timeout: 180_000,
}, async () => {
  await withDisk(48 * MiB, { MIN_FREE_DISK_MB: "8" }, {}, async (stack, disk) => {
    const zip = await photoDatasetZip(["cat", "coffee"], { train: 4, test: 1 }, 3);
    let ready = await request(stack.app.server).get("/readyz");
    assert.equal(ready.status, 200, ready.text);
    assert.equal(ready.body.disk.low, false);
    assert.equal(ready.body.disk.minFreeBytes, 8 * MiB);
    assert.ok(ready.body.disk.freeBytes > 30 * MiB && ready.body.disk.totalBytes <= 48 * MiB, ready.text);
    const kept = await createDataset(stack, zip, "before.zip");

    await disk.fill(7 * MiB);
    ready = await request(stack.app.server).get("/readyz");
    assert.equal(ready.status, 200, ready.text);
    assert.equal(ready.body.disk.low, true, ready.text);
    const refused = await uploadDataset(stack, zip, "after.zip");
    assertError(refused, 507, "INSUFFICIENT_STORAGE");
    assert.match(refused.body.error.message, /MIN_FREE_DISK_MB/);

    await disk.fill(20 * MiB);
    const big = await uploadDataset(stack, randomBytes(8 * MiB), "big.zip");
    assertError(big, 507, "INSUFFICIENT_STORAGE");
    assert.match(
      big.body.error.message,
      /needs about 16\.0 MiB/,
      "an upload needs room for itself and its pack",
    );
    await assertNoLeftovers(stack, [kept]);

    await disk.unfill();
    const again = await uploadDataset(stack, zip, "again.zip");
    assert.equal(again.status, 202, again.text);
    assert.equal((await waitForDataset(stack, again.body.id)).state, "ready");
  });
});

test("an upload that fills the disk (no Content-Length) answers 507 and leaves nothing; a full disk fails /readyz", {
  timeout: 180_000,
}, async () => {
  await withDisk(24 * MiB, { MIN_FREE_DISK_MB: "0" }, {}, async (stack, disk) => {
    const address = await stack.app.listen({ port: 0, host: "127.0.0.1" });
    await disk.fill(2 * MiB);
    const res = await chunkedUpload(`${address}/v1/datasets`, randomBytes(6 * MiB), "huge.zip");
    assert.equal(res.status, 507, JSON.stringify(res.body));
    assert.equal(res.body.error.code, "INSUFFICIENT_STORAGE");
    assert.equal(res.connection, "close", "the unread rest of the body is not waited for");
    await assertNoLeftovers(stack);
    assert.ok((await disk.free()) >= 2 * MiB - 64 * 1024, "the partial upload was removed");
    const list = await request(stack.app.server).get("/v1/datasets");
    assert.deepEqual(list.body.items, []);

    await disk.fill(0);
    const ready = await request(stack.app.server).get("/readyz");
    assertError(ready, 503, "DISK_UNAVAILABLE");
    assert.match(ready.body.error.message, /ENOSPC/);
  });
});

test("an ingestion that runs out of disk fails once with INSUFFICIENT_STORAGE, keeps only its record, and the worker goes on", {
  timeout: 180_000,
}, async () => {
  await withDisk(32 * MiB, { MIN_FREE_DISK_MB: "0" }, { ingest: false }, async (stack, disk) => {
    const zip = await photoDatasetZip(["cat", "coffee"], { train: 8, test: 2 }, 5);
    const res = await uploadDataset(stack, zip, "photos.zip");
    assert.equal(res.status, 202, res.text);
    await disk.fill(16 * 1024);
    const worker = createIngestWorker(stack.ctx, stack.ctx.logger, 1);
    try {
      const failed = await waitForDataset(stack, res.body.id);
      await assertIngestFailed(stack, failed, "INSUFFICIENT_STORAGE");
      const jobs = await stack.queues.ingest.getJobs(["failed"]);
      assert.equal(jobs.length, 1);
      assert.equal(jobs[0].attemptsMade, 1, "a full disk is not retried");

      await disk.unfill();
      const next = await uploadDataset(stack, zip, "photos.zip");
      assert.equal(next.status, 202, next.text);
      assert.equal(
        (await waitForDataset(stack, next.body.id)).state,
        "ready",
        "the same worker ingests the next one",
      );
      const left = await readdir(path.join(stack.dataDir, "uploads"));
      assert.deepEqual(left, []);
    } finally {
      await worker.close();
    }
  });
});

/** POSTs a multipart upload as a stream (chunked, no Content-Length), as `curl -T -` would. */
async function chunkedUpload(
  url: string,
  bytes: Buffer,
  filename: string,
): Promise<{
  status: number;
  connection: string | null;
  body: { error: { code: string; message: string } };
}> {
  const boundary = `----tls${randomBytes(8).toString("hex")}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
      "Content-Type: application/zip\r\n\r\n",
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const parts = [head, ...chunks(bytes, 64 * 1024), tail];
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = parts.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    body: stream,
    duplex: "half",
  } as RequestInit);
  return {
    status: res.status,
    connection: res.headers.get("connection"),
    body: (await res.json()) as { error: { code: string; message: string } },
  };
}

function chunks(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}
