/**
 * `npm run example:fashion-mnist -- [options]`: trains a classifier on Fashion-MNIST through the HTTP API only,
 * as any user would: IDX files -> PNG folders -> .tar.gz -> POST /v1/datasets -> POST /v1/jobs -> poll -> model
 * metrics (accuracy on the dataset's test split, per-class F1) and wall times.
 *
 * Data: Debian's `dataset-fashion-mnist` package (/usr/share/datasets/fashion-mnist, or --data-dir).
 *
 *   --url URL               server to use (default http://127.0.0.1:3000)
 *   --start                 start a local server (API + workers, temp DATA_DIR) on --port (3198) and stop it after
 *   --train-per-class N     first N training images of each class in file order (default: all 6000)
 *   --test-per-class N      first N test images of each class in file order (default: all 1000)
 *   --epochs N  --batch-size N  --backbone ID    job parameters (default: the server's job defaults)
 *   --sweep JSON            also run a sweep job (e.g. '{"learningRate":[0.0005,0.001,0.002],"hiddenUnits":[256,512],
 *                           "dropout":[0.2,0.5]}') on the same dataset and compare its wall time with the single
 *                           job's; with --start the feature cache is emptied before each job, so both extract cold
 *   --ood DIR               photos that are not clothing (default assets/photos/natural): after training, every one
 *                           and every test image goes through /predict; prints the share of each called unknown
 *   --no-ood                skip that check
 *   --json                  print one JSON summary line on stdout and nothing else
 *   --no-install            do not run `apt-get install -y dataset-fashion-mnist` (done as root when the files are missing)
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { ApiClient, type LocalServer, startLocalServer } from "./lib/client.js";
import { CLASSES, eachLimit, FILES, firstPerClass, packFashionMnist } from "./lib/fashion-archive.js";
import { readIdxImages, readIdxLabels } from "./lib/idx.js";

const PACKAGE = "dataset-fashion-mnist";

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:3000" },
    start: { type: "boolean", default: false },
    port: { type: "string", default: "3198" },
    "train-per-class": { type: "string" },
    "test-per-class": { type: "string" },
    epochs: { type: "string" },
    "batch-size": { type: "string" },
    sweep: { type: "string" },
    ood: { type: "string", default: "assets/photos/natural" },
    "no-ood": { type: "boolean", default: false },
    backbone: { type: "string" },
    json: { type: "boolean", default: false },
    "no-install": { type: "boolean", default: false },
    "data-dir": { type: "string", default: "/usr/share/datasets/fashion-mnist" },
  },
});

/** Human-readable output (stderr), silenced by --json so that stdout carries one JSON line only. */
const say = (m: string) => {
  if (!args.json) process.stderr.write(`${m}\n`);
};

class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

interface Job {
  id: string;
  state: string;
  params?: Record<string, unknown>;
  leaderboard?: { params: Record<string, number>; valAccuracy?: number; valLoss?: number }[];
  startedAt?: string;
  finishedAt?: string;
  progress?: {
    phase: string;
    epoch?: number;
    epochs?: number;
    percent: number;
    imagesPerSec?: number;
    etaSeconds?: number | null;
  };
  history: {
    epoch: number;
    loss: number;
    accuracy: number;
    valLoss?: number;
    valAccuracy?: number;
    seconds: number;
  }[];
  modelId?: string;
  error?: { code: string; message: string };
  warnings?: string[];
}

interface Prediction {
  predictions: { label: string; probability: number }[];
  unknown?: boolean;
}

interface Dataset {
  id: string;
  splits: Record<string, { images: number }>;
  rejectedCount?: number;
  rejected?: { path: string; reason: string }[];
  progress?: { imagesPerSec: number };
  summary?: Record<string, number>;
}

interface Model {
  id: string;
  backbone: string;
  classes: string[];
  calibration?: { temperature: number; eceBefore: number; eceAfter: number } | null;
  openSet?: { threshold: number; validationRejectRate: number } | null;
  metrics: {
    split?: string;
    accuracy: number;
    loss: number;
    macroF1?: number;
    ece?: number;
    perClass: Record<string, { precision: number; recall: number; f1: number; support: number }>;
  };
}

/** Makes sure the four IDX files exist, installing the Debian package when missing (as root, unless --no-install). */
function ensureData(dir: string): void {
  const missing = () => Object.values(FILES).filter((f) => !existsSync(path.join(dir, f)));
  if (missing().length === 0) return;
  if (args["no-install"] || process.getuid?.() !== 0) {
    throw new UsageError(
      `Fashion-MNIST not found in ${dir} (missing ${missing().join(", ")}).\n` +
        `Install it with:  sudo apt-get install ${PACKAGE}\n` +
        `(run as root, this script installs it itself), or point --data-dir at the files.`,
    );
  }
  say(`installing ${PACKAGE} with apt-get ...`);
  // apt's output goes to stderr so that --json keeps stdout for the summary.
  const apt = (...a: string[]) => spawnSync("apt-get", a, { stdio: ["ignore", 2, 2] });
  let r = apt("install", "-y", PACKAGE);
  if (r.status !== 0 && !r.error) {
    apt("update");
    r = apt("install", "-y", PACKAGE);
  }
  if (r.error) throw new Error(`could not run apt-get: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(
      `apt-get install -y ${PACKAGE} failed (exit ${r.status}); run it as root, after apt-get update`,
    );
  }
  if (missing().length > 0)
    throw new Error(`${PACKAGE} installed, but ${missing().join(", ")} still missing in ${dir}`);
}

const fmtDuration = (s: number) => {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
};
const round = (v: number, d = 4) => Math.round(v * 10 ** d) / 10 ** d;
const seconds = (fromMs: number) => round((performance.now() - fromMs) / 1000, 2);

/** One progress line: state, phase, epoch, percent, throughput, ETA. */
function progressLine(job: Job, elapsedS: number): string {
  const parts = [`[${fmtDuration(elapsedS)}]`, job.state];
  const p = job.progress;
  if (p && job.state === "running") {
    parts.push(p.phase);
    if (p.epoch !== undefined && p.epochs !== undefined) parts.push(`epoch ${p.epoch}/${p.epochs}`);
    parts.push(`${p.percent.toFixed(1)}%`);
    if (p.imagesPerSec !== undefined) parts.push(`${p.imagesPerSec.toFixed(1)} img/s`);
    if (p.etaSeconds !== undefined && p.etaSeconds !== null) parts.push(`ETA ${fmtDuration(p.etaSeconds)}`);
  }
  return parts.join("  ");
}

const tty = process.stderr.isTTY && !args.json;
let server: LocalServer | undefined;
let workDir: string | undefined;
let api: ApiClient | undefined;
let runningJob: string | undefined;
/** True while a TTY progress line (no newline yet) is on stderr. */
let lineOpen = false;
const closeLine = () => {
  if (lineOpen) process.stderr.write("\n");
  lineOpen = false;
};

async function cleanUp(): Promise<void> {
  if (workDir) await rm(workDir, { recursive: true, force: true });
  workDir = undefined;
  await server?.stop();
  server = undefined;
}

// Ctrl-C: cancel the job we started (best effort), remove the temp folder, stop a server we started.
let interrupted = false;
process.once("SIGINT", () => {
  interrupted = true;
  closeLine();
  say("interrupted");
  const cancel =
    api && runningJob
      ? api.json("DELETE", `/v1/jobs/${runningJob}`).then(
          () => say(`cancelled ${runningJob}`),
          () => undefined,
        )
      : Promise.resolve();
  const timeout = new Promise((r) => setTimeout(r, 3000));
  void Promise.race([cancel, timeout])
    .then(cleanUp)
    .finally(() => process.exit(130));
});

/** Runs one training job to its end (with a cold feature cache when the server is ours); its wall time. */
async function runJob(client: ApiClient, body: Record<string, unknown>, trainImages: number) {
  if (server) await rm(path.join(server.dataDir, "cache", "features"), { recursive: true, force: true });
  const tJob = performance.now();
  const { id } = await client.json<{ id: string }>("POST", "/v1/jobs", body);
  runningJob = id;
  say(`job ${id}: ${JSON.stringify(body)}`);
  // The extraction phase's wall time, from the polls (every 2 s) that first see it and first see it end.
  let extractFrom: number | undefined;
  let extractTo: number | undefined;
  const job = await client.waitForJob<Job>(
    id,
    (j) => {
      const phase = j.progress?.phase;
      if (phase === "extracting") extractFrom ??= performance.now();
      else if (extractFrom !== undefined) extractTo ??= performance.now();
      if (args.json) return;
      const line = progressLine(j, (performance.now() - tJob) / 1000);
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
      lineOpen = tty;
    },
    2000,
  );
  runningJob = undefined;
  const secs = seconds(tJob);
  closeLine();
  for (const w of job.warnings ?? []) say(`warning: ${w}`);
  if (job.state !== "completed" || !job.modelId) {
    const why = job.error ? `${job.error.code}: ${job.error.message}` : "no model";
    throw new Error(`job ${id} ${job.state} after ${secs} s (${why})`);
  }
  const extractImagesPerSec =
    extractFrom !== undefined && extractTo !== undefined
      ? round(trainImages / ((extractTo - extractFrom) / 1000), 1)
      : undefined;
  return { job, seconds: secs, extractImagesPerSec };
}

/** Sends every photo of --ood and the test images through /predict; the share of each called unknown. */
async function unknownCheck(client: ApiClient, modelId: string, testPerClass: number | undefined) {
  const dir = args.ood;
  const files = (await readdir(dir)).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort();
  const photos = await Promise.all(files.map((f) => readFile(path.join(dir, f))));
  const images = await readIdxImages(path.join(args["data-dir"], FILES.testImages));
  const labels = await readIdxLabels(path.join(args["data-dir"], FILES.testLabels));
  const chosen = firstPerClass(labels, testPerClass);
  const size = images.rows * images.cols;
  const tests = await Promise.all(
    chosen.map((i) =>
      sharp(Buffer.from(images.pixels.subarray(i * size, (i + 1) * size)), {
        raw: { width: images.cols, height: images.rows, channels: 1 },
      })
        .png()
        .toBuffer(),
    ),
  );
  const countUnknown = async (all: Buffer[]) => {
    const chunks: Buffer[][] = [];
    for (let i = 0; i < all.length; i += 32) chunks.push(all.slice(i, i + 32));
    let unknown = 0;
    await eachLimit(chunks, 4, async (chunk) => {
      const r = await client.predictMany<{ results: Prediction[] }>(modelId, chunk, "?topK=1");
      unknown += r.results.filter((p) => p.unknown === true).length;
    });
    return unknown;
  };
  const oodUnknown = await countUnknown(photos);
  const testUnknown = await countUnknown(tests);
  return {
    oodImages: photos.length,
    oodUnknownRate: round(oodUnknown / Math.max(1, photos.length)),
    testPredicted: tests.length,
    testUnknownRate: round(testUnknown / Math.max(1, tests.length)),
  };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const trainPerClass = positiveInt("train-per-class", args["train-per-class"]);
  const testPerClass = positiveInt("test-per-class", args["test-per-class"]);
  const epochs = positiveInt("epochs", args.epochs);
  const batchSize = positiveInt("batch-size", args["batch-size"]);
  const port = positiveInt("port", args.port)!;
  ensureData(args["data-dir"]);

  if (args.start) {
    say(`starting a local server on port ${port} ...`);
    server = await startLocalServer(port);
  }
  const url = server?.url ?? args.url;
  api = new ApiClient(url);
  if (!server) {
    await api.waitReady(10_000).catch(() => {
      throw new UsageError(`no ready server at ${url}: start one (npm start), pass --url, or use --start`);
    });
  }

  // 1. The archive: train/<class>/<index>.png and test/<class>/<index>.png, packed as .tar.gz.
  const tArchive = performance.now();
  workDir = await mkdtemp(path.join(os.tmpdir(), "fashion-mnist-"));
  say(`writing PNGs into ${workDir} ...`);
  const {
    archivePath,
    bytes: archiveBytes,
    trainImages,
    testImages,
  } = await packFashionMnist(args["data-dir"], workDir, { train: trainPerClass, test: testPerClass }, say);
  const archiveSeconds = seconds(tArchive);
  say(
    `archive: ${trainImages} train + ${testImages} test images, ` +
      `${(archiveBytes / 1024 / 1024).toFixed(1)} MiB, ${archiveSeconds} s`,
  );

  // 2. Upload.
  const tUpload = performance.now();
  const name = `fashion-mnist-${trainPerClass ?? "all"}x${testPerClass ?? "all"}`;
  const accepted = await api.uploadDataset(await readFile(archivePath), "fashion-mnist.tar.gz", name);
  const uploadSeconds = seconds(tUpload);
  const tIngest = performance.now();
  const ds: Dataset = await api.waitForDataset(accepted.id);
  const ingestSeconds = seconds(tIngest);
  await rm(workDir, { recursive: true, force: true });
  workDir = undefined;
  const splitText = Object.entries(ds.splits)
    .map(([s, v]) => `${s} ${v.images}`)
    .join(", ");
  say(`dataset ${ds.id}: ${splitText} images, upload ${uploadSeconds} s, ingestion ${ingestSeconds} s`);
  say(`dataset report summary: ${JSON.stringify(ds.summary)}`);
  if (ds.rejected?.length) say(`warning: ${ds.rejectedCount} files rejected, e.g. ${ds.rejected[0].path}`);
  if (ds.splits.train?.images !== trainImages || ds.splits.test?.images !== testImages) {
    throw new Error(`the server sees ${splitText} images, expected train ${trainImages}, test ${testImages}`);
  }

  // 3. The training job (and a sweep to compare), polled every 2 s.
  const params = {
    datasetId: ds.id,
    ...(epochs ? { epochs } : {}),
    ...(batchSize ? { batchSize } : {}),
    ...(args.backbone ? { backbone: args.backbone } : {}),
  };
  const single = await runJob(api, params, trainImages);
  const job = single.job;
  const jobSeconds = single.seconds;
  const sweep = args.sweep
    ? await runJob(api, { ...params, sweep: JSON.parse(args.sweep) }, trainImages)
    : undefined;

  // 4. The model's metrics (on the test split: the dataset has no val split, so validation is part of train).
  const model = await api.json<Model>("GET", `/v1/models/${job.modelId}`);
  const m = model.metrics;
  const perClassF1 = Object.fromEntries(CLASSES.map((c) => [c, round(m.perClass[c]?.f1 ?? Number.NaN)]));
  const macroF1 = round(m.macroF1 ?? Number.NaN);
  const unknownRates = args["no-ood"] ? undefined : await unknownCheck(api, model.id, testPerClass);
  const totalSeconds = seconds(t0);

  if (args.json) {
    const out = {
      trainImages,
      testImages,
      backbone: model.backbone,
      params: job.params,
      split: m.split,
      accuracy: round(m.accuracy),
      macroF1,
      ece: m.ece,
      calibration: model.calibration,
      openSet: model.openSet,
      ...unknownRates,
      perClassF1,
      extractImagesPerSec: single.extractImagesPerSec,
      jobSeconds,
      ...(sweep
        ? {
            sweepSeconds: sweep.seconds,
            sweepToSingle: round(sweep.seconds / jobSeconds, 3),
            sweepExtractImagesPerSec: sweep.extractImagesPerSec,
            leaderboard: sweep.job.leaderboard,
          }
        : {}),
      uploadSeconds,
      ingestSeconds,
      datasetSummary: ds.summary,
      totalSeconds,
      history: job.history,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  say("");
  say(" epoch    loss  train acc  val loss  val acc  seconds");
  for (const h of job.history) {
    say(
      `${pad(h.epoch, 6)}${pad(h.loss.toFixed(4), 8)}${pad(h.accuracy.toFixed(4), 11)}` +
        `${pad(h.valLoss?.toFixed(4) ?? "-", 10)}${pad(h.valAccuracy?.toFixed(4) ?? "-", 9)}${pad(h.seconds.toFixed(1), 9)}`,
    );
  }
  say("");
  say(`model ${model.id} (backbone ${model.backbone}), evaluated on: ${m.split ?? "?"}`);
  say(
    `test accuracy: ${(m.accuracy * 100).toFixed(2)}% on ${testImages} images   macro F1: ${macroF1.toFixed(4)}   ECE: ${m.ece}`,
  );
  if (model.calibration) say(`calibration (validation): ${JSON.stringify(model.calibration)}`);
  if (unknownRates) {
    say(
      `unknown: ${(unknownRates.oodUnknownRate * 100).toFixed(1)}% of ${unknownRates.oodImages} photos that are not clothing, ` +
        `${(unknownRates.testUnknownRate * 100).toFixed(1)}% of ${unknownRates.testPredicted} test images`,
    );
  }
  say(`feature extraction in the job: ${single.extractImagesPerSec ?? "?"} images/s`);
  if (sweep) {
    say(
      `sweep of ${sweep.job.leaderboard?.length} heads: ${sweep.seconds} s, ${round(sweep.seconds / jobSeconds, 3)}x the single job`,
    );
  }
  say("");
  say("class         precision  recall      f1  support");
  for (const c of CLASSES) {
    const r = m.perClass[c];
    if (!r) {
      say(`${c.padEnd(12)}  (missing)`);
      continue;
    }
    say(
      `${c.padEnd(12)}${pad(r.precision.toFixed(4), 11)}${pad(r.recall.toFixed(4), 8)}` +
        `${pad(r.f1.toFixed(4), 8)}${pad(r.support, 9)}`,
    );
  }
  say("");
  say(
    `wall times: archive ${archiveSeconds} s, upload ${uploadSeconds} s, ingestion ${ingestSeconds} s, job ${jobSeconds} s, total ${totalSeconds} s`,
  );
}

try {
  await main();
} catch (e) {
  // After Ctrl-C, failures of requests to a server being stopped are expected; the SIGINT handler exits.
  if (!interrupted) {
    closeLine();
    process.stderr.write(`${e instanceof UsageError ? "" : "error: "}${(e as Error).message}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
} finally {
  await cleanUp();
}
