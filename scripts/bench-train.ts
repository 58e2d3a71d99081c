/**
 * `npm run bench:train -- --json`: one training job driven through the HTTP API on 500x375 JPEG photos
 * (variants of the four real photos in assets/photos, one class each). Prints the first epoch's
 * time (feature extraction included), the mean of later epochs, files-to-features throughput of the first
 * epoch, the job's wall time and the training worker's peak RSS (VmHWM, when it started the stack).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ApiClient, type LocalServer, startLocalServer } from "./lib/client.js";
import { type PhotoClass, photoDatasetZip } from "./lib/photos.js";

const { values: args } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    url: { type: "string" },
    port: { type: "string", default: "3197" },
    "per-class": { type: "string", default: "150" },
    "test-per-class": { type: "string", default: "25" },
    classes: { type: "string", default: "cat,coffee,astronaut,motorcycle" },
    epochs: { type: "string", default: "5" },
    "batch-size": { type: "string", default: "64" },
    augment: { type: "boolean", default: false },
    backbone: { type: "string" },
  },
});
const say = (m: string) => {
  if (!args.json) process.stderr.write(`${m}\n`);
};

interface Job {
  state: string;
  startedAt?: string;
  finishedAt?: string;
  history: { epoch: number; seconds: number }[];
  progress?: { phase: string; percent: number; imagesPerSec?: number };
  error?: unknown;
}

function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

let server: LocalServer | undefined;
try {
  if (!args.url) server = await startLocalServer(Number(args.port));
  const api = new ApiClient(server?.url ?? args.url!);
  const classes = args.classes.split(",") as PhotoClass[];
  const perClass = { train: Number(args["per-class"]), test: Number(args["test-per-class"]) };
  say(`building ${classes.length} classes x ${perClass.train + perClass.test} JPEGs of 500x375`);
  const zip = await photoDatasetZip(classes, perClass, 7);
  const ds = await api.waitForDataset((await api.uploadDataset(zip, "bench-train.zip", "bench-train")).id);
  const images = Object.values(ds.splits).reduce((n, s) => n + s.images, 0);
  const { id } = await api.json<{ id: string }>("POST", "/v1/jobs", {
    datasetId: ds.id,
    epochs: Number(args.epochs),
    batchSize: Number(args["batch-size"]),
    augment: args.augment,
    earlyStopping: null,
    ...(args.backbone ? { backbone: args.backbone } : {}),
  });
  let peak: number | null = null;
  const job = await api.waitForJob<Job>(
    id,
    (j) => {
      if (server) peak = peakRssMb(server.pid("train"));
      if (j.progress)
        say(`${j.state} ${j.progress.phase} ${j.progress.percent}% ${j.progress.imagesPerSec ?? ""} img/s`);
    },
    500,
  );
  if (job.state !== "completed") throw new Error(`job ${job.state}: ${JSON.stringify(job.error)}`);
  const [first, ...later] = job.history;
  const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;
  const laterMean = later.length ? later.reduce((s, h) => s + h.seconds, 0) / later.length : null;
  const out = {
    images,
    firstEpochSeconds: round(first.seconds),
    laterEpochSecondsMean: laterMean === null ? null : round(laterMean),
    laterToFirstRatio: laterMean === null ? null : round(laterMean / first.seconds, 4),
    endToEndImagesPerSec: round(images / first.seconds, 1),
    jobSeconds: round((Date.parse(job.finishedAt!) - Date.parse(job.startedAt!)) / 1000),
    workerPeakRssMb: server ? (peakRssMb(server.pid("train")) ?? peak) : null,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  await server?.stop();
}
