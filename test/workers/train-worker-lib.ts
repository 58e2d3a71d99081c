/**
 * Helpers shared by the train-worker tests (test/workers/*.test.ts): uploading a photo dataset, creating
 * and polling jobs, reading worker logs, the model folders on disk.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import request from "supertest";
import { type PhotoClass, photoDatasetZip } from "../../scripts/lib/photos.js";
import type { EpochRecord, JobRecord } from "../../src/jobs/schemas.js";
import { createDataset } from "../helpers/archives.js";
import type { Stack, WorkerProcess } from "../helpers/stack.js";

/** The job as GET /v1/jobs/:id returns it. */
export type Job = JobRecord;

/** Parameters of a POST /v1/jobs body besides `datasetId`. */
export type JobBody = Record<string, unknown>;

/** Closes a stack that may not have started. */
export async function closeStack(stack: Stack | undefined): Promise<void> {
  await stack?.close();
}

/** Uploads a zip of real-photo variants and returns the dataset id. */
export async function uploadPhotos(
  stack: Stack,
  perClass: { train: number; test: number },
  seed: number,
  classes: PhotoClass[] = ["cat", "coffee"],
): Promise<string> {
  const zip = await photoDatasetZip(classes, perClass, seed);
  return createDataset(stack, zip, "photos.zip");
}

/** POST /v1/jobs; returns the job id. */
export async function createJob(stack: Stack, datasetId: string, body: JobBody): Promise<string> {
  const res = await request(stack.app.server)
    .post("/v1/jobs")
    .send({ datasetId, ...body });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assert.equal(res.body.state, "queued");
  return res.body.id as string;
}

/** GET /v1/jobs/:id (asserting 200). */
export async function getJob(stack: Stack, id: string): Promise<Job> {
  const res = await request(stack.app.server).get(`/v1/jobs/${id}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as Job;
}

/**
 * Polls the job record (straight from Redis, every `everyMs`) until `check` accepts it; fails after
 * `timeoutMs` with the last record seen and, when given, the worker's log tail.
 */
export async function pollJob(
  stack: Stack,
  id: string,
  check: (job: Job) => boolean,
  what: string,
  {
    timeoutMs = 60_000,
    everyMs = 50,
    worker,
  }: { timeoutMs?: number; everyMs?: number; worker?: WorkerProcess } = {},
): Promise<Job> {
  const end = Date.now() + timeoutMs;
  let last: Job | undefined;
  for (;;) {
    last = await stack.ctx.jobs.get(id);
    if (last && check(last)) return last;
    if (last && ["failed", "completed", "cancelled"].includes(last.state)) {
      const tail = worker ? `\nworker log tail:\n${worker.output().slice(-3000)}` : "";
      assert.fail(`job ended ${last.state} while waiting for ${what}: ${JSON.stringify(last)}${tail}`);
    }
    if (Date.now() > end) {
      const tail = worker ? `\nworker log tail:\n${worker.output().slice(-3000)}` : "";
      assert.fail(
        `timed out after ${timeoutMs} ms waiting for ${what}; last record: ${JSON.stringify(last)}${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits for a job to complete and returns it as GET /v1/jobs/:id shows it. */
export async function waitCompleted(
  stack: Stack,
  id: string,
  worker: WorkerProcess,
  timeoutMs = 90_000,
): Promise<Job> {
  await pollJob(stack, id, (j) => j.state === "completed", "state completed", {
    timeoutMs,
    everyMs: 200,
    worker,
  });
  return getJob(stack, id);
}

/** One pino JSON line of a worker's output. */
export interface LogLine {
  msg?: string;
  level?: number;
  jobId?: string;
  epoch?: number;
  [key: string]: unknown;
}

/** The JSON log lines of a worker (other lines, such as warnings from Node, are skipped). */
export function logLines(worker: WorkerProcess): LogLine[] {
  return worker
    .output()
    .split("\n")
    .flatMap((line) => {
      if (!line.startsWith("{")) return [];
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
}

/** Epoch numbers of the "epoch done" lines a worker logged for a job. */
export function epochsLogged(worker: WorkerProcess, jobId: string): number[] {
  return logLines(worker)
    .filter((l) => l.msg === "epoch done" && l.jobId === jobId)
    .map((l) => l.epoch as number);
}

/** Waits until the worker process has written "train worker ready". */
export async function waitReady(worker: WorkerProcess, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!logLines(worker).some((l) => l.msg === "train worker ready")) {
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) {
      assert.fail(`worker exited before it was ready:\n${worker.output().slice(-3000)}`);
    }
    if (Date.now() > end)
      assert.fail(`worker not ready after ${timeoutMs} ms:\n${worker.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves with the exit code, or with "timeout" after `ms`. */
export function exitWithin(worker: WorkerProcess, ms: number): Promise<number | null | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((r) => {
    timer = setTimeout(() => r("timeout"), ms);
  });
  return Promise.race([worker.exited, timeout]).finally(() => clearTimeout(timer));
}

/** Whether the worker process is still running. */
export function alive(worker: WorkerProcess): boolean {
  return worker.child.exitCode === null && worker.child.signalCode === null;
}

/** Stops a worker (SIGKILL) if it still runs, and waits for it. */
export async function stopWorker(worker: WorkerProcess | undefined): Promise<void> {
  if (!worker) return;
  if (alive(worker)) worker.child.kill("SIGKILL");
  await worker.exited;
}

/** Model folders under <dataDir>/models (temporary and trash folders, starting with ".", left out). */
export async function modelFolders(stack: Stack): Promise<string[]> {
  const names = await readdir(path.join(stack.dataDir, "models")).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  return names.filter((n) => !n.startsWith(".")).sort();
}

/**
 * Asserts that the job wrote exactly one model, on disk and in GET /v1/models, besides the model folders
 * `existing` that were there before the job.
 */
export async function assertOneModelFor(
  stack: Stack,
  jobId: string,
  modelId: string | undefined,
  existing: string[] = [],
): Promise<void> {
  const folders = (await modelFolders(stack)).filter((n) => !existing.includes(n));
  assert.deepEqual(folders, [modelId], "exactly one new model folder: the job's modelId");
  const manifest = JSON.parse(
    await readFile(path.join(stack.dataDir, "models", folders[0], "manifest.json"), "utf8"),
  ) as { id: string; jobId: string };
  assert.equal(manifest.jobId, jobId);
  assert.equal(manifest.id, folders[0]);
  const listed = await request(stack.app.server).get("/v1/models");
  assert.equal(listed.status, 200);
  const models = listed.body.items as { id: string; jobId: string }[];
  assert.equal(models.length, existing.length + 1, JSON.stringify(models));
  assert.deepEqual(
    models.filter((m) => !existing.includes(m.id)).map((m) => m.jobId),
    [jobId],
  );
}

/** Asserts that the history holds epochs 1..epochs, each once and in order. */
export function assertHistoryEpochs(history: EpochRecord[], epochs: number): void {
  assert.deepEqual(
    history.map((h) => h.epoch),
    Array.from({ length: epochs }, (_, i) => i + 1),
    "history has every epoch exactly once, in order",
  );
}

/** 1..n as an array. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
