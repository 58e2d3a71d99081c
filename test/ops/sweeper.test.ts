import assert from "node:assert/strict";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import type { JobRecord } from "../../src/jobs/schemas.js";
import { sweep } from "../../src/ops/sweeper.js";
import { type Stack, startStack } from "../helpers/stack.js";

const HOUR = 3600_000;
let stack: Stack;

before(async () => {
  stack = await startStack({}, { ingest: false });
});
after(() => stack.close());

/** Writes `bytes` bytes at `file` (creating its folder), last modified `ageMs` ago. */
async function leftover(file: string, bytes: number, ageMs: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, Buffer.alloc(bytes, 1));
  const when = new Date(Date.now() - ageMs);
  await utimes(file, when, when);
  await utimes(path.dirname(file), when, when);
}

async function job(id: string, state: JobRecord["state"], finishedAgoMs?: number): Promise<void> {
  const at = (ago: number) => new Date(Date.now() - ago).toISOString();
  await stack.ctx.jobs.create({
    id,
    type: "train",
    params: {},
    state,
    createdAt: at(3 * 24 * HOUR),
    history: [],
    ...(finishedAgoMs === undefined ? {} : { finishedAt: at(finishedAgoMs) }),
  });
}

test("a sweep removes old leftovers and expired checkpoints, and keeps everything in use", async () => {
  const { paths } = stack.ctx;
  // Leftovers of writes a killed process never finished, two hours old: removed.
  await leftover(path.join(paths.uploads, "a.upload"), 100_000, 2 * HOUR);
  await leftover(path.join(paths.datasets, ".tmp-ds_dead", "upload.archive"), 50_000, 2 * HOUR);
  await leftover(path.join(paths.datasets, ".trash-ds_gone-1234", "images.pack"), 30_000, 2 * HOUR);
  await leftover(path.join(paths.models, "mdl_x.123.abcd.tmp", "head.onnx"), 20_000, 2 * HOUR);
  await leftover(path.join(paths.datasets, "ds_live", "items.json.1.ab.tmp"), 1_000, 2 * HOUR);
  // In use or too recent: kept.
  await leftover(path.join(paths.uploads, "b.upload"), 100_000, 60_000);
  await leftover(path.join(paths.datasets, "ds_live", "images.pack"), 10_000, 2 * HOUR);
  await leftover(path.join(paths.models, "mdl_live", "manifest.json"), 500, 2 * HOUR);
  // Checkpoints: finished two days ago (removed), finished an hour ago (kept), running (kept), no record.
  await job("job_old", "completed", 2 * 24 * HOUR);
  await job("job_recent", "failed", HOUR);
  await job("job_running", "running");
  await leftover(path.join(paths.checkpoints, "job_old", "ckpt-00000001.bin"), 40_000, 2 * 24 * HOUR);
  await leftover(path.join(paths.checkpoints, "job_recent", "ckpt-00000001.bin"), 40_000, HOUR);
  await leftover(path.join(paths.checkpoints, "job_running", "ckpt-00000001.bin"), 40_000, 2 * 24 * HOUR);
  await leftover(path.join(paths.checkpoints, "job_norecord", "ckpt-00000001.bin"), 40_000, 2 * HOUR);

  const report = await sweep(stack.ctx, { orphanAgeMs: HOUR, checkpointRetentionMs: 24 * HOUR });

  const rel = report.removed.map((p) => path.relative(stack.dataDir, p)).sort();
  assert.deepEqual(rel, [
    "checkpoints/job_norecord",
    "checkpoints/job_old",
    "datasets/.tmp-ds_dead",
    "datasets/.trash-ds_gone-1234",
    "datasets/ds_live/items.json.1.ab.tmp",
    "models/mdl_x.123.abcd.tmp",
    "uploads/a.upload",
  ]);
  assert.equal(report.bytes, 100_000 + 50_000 + 30_000 + 20_000 + 1_000 + 40_000 + 40_000);
  assert.deepEqual(await readdir(paths.uploads), ["b.upload"]);
  assert.deepEqual((await readdir(paths.checkpoints)).sort(), ["job_recent", "job_running"]);
  assert.deepEqual(await readdir(path.join(paths.datasets, "ds_live")), ["images.pack"]);
  assert.deepEqual(await readdir(paths.models), ["mdl_live"]);

  const again = await sweep(stack.ctx, { orphanAgeMs: HOUR, checkpointRetentionMs: 24 * HOUR });
  assert.deepEqual(again, { removed: [], bytes: 0 }, "a second sweep finds nothing");
});
