/**
 * `npm run bench:ingest -- [--json]`: ingestion throughput as a user sees it. Packs Fashion-MNIST (all
 * 70,000 PNGs by default) as a .tar.gz, starts a local server (API, training worker that ingests, predict
 * worker), uploads the archive and times: the upload request until its `202`, and the ingestion from the
 * `202` until the dataset is `ready` (images per second). Unless --no-predict, it first trains a small
 * model on another dataset and measures `/predict` latency (one image per request, sequential) while idle
 * and while the ingestion runs (one request every 100 ms), to show whether ingestion competes with them.
 *
 *   --train-per-class N  --test-per-class N   a subset (default: everything)
 *   --port N            the local server's port (default 3197)
 *   --no-predict        skip the predict latency measurement
 *   --json              one JSON line on stdout and nothing else
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ApiClient, startLocalServer } from "./lib/client.js";
import { packFashionMnist } from "./lib/fashion-archive.js";

const { values: args } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    "train-per-class": { type: "string" },
    "test-per-class": { type: "string" },
    port: { type: "string", default: "3197" },
    "no-predict": { type: "boolean", default: false },
    "data-dir": { type: "string", default: "/usr/share/datasets/fashion-mnist" },
  },
});
/** One prediction request per this many milliseconds during the latency checks. */
const PACE_MS = 100;
const say = (msg: string) => {
  if (!args.json) process.stderr.write(`${msg}\n`);
};
const optInt = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)];
};

/** Trains a small model on a 60-per-class subset; returns its id and one test image. */
async function smallModel(api: ApiClient, work: string): Promise<{ modelId: string; image: Buffer }> {
  const dir = path.join(work, "small");
  const packed = await packFashionMnist(args["data-dir"], dir, { train: 60, test: 1 });
  const ds = await api.uploadDataset(await readFile(packed.archivePath), "small.tar.gz", "small");
  await api.waitForDataset(ds.id);
  const job = await api.json<{ id: string }>("POST", "/v1/jobs", { datasetId: ds.id, epochs: 2 });
  const done = await api.waitForJob<{ state: string; modelId?: string }>(job.id);
  if (!done.modelId) throw new Error(`the small model's job ended ${done.state}`);
  const bags = path.join(dir, "test", "bag");
  const image = await readFile(path.join(bags, (await readdir(bags))[0]));
  return { modelId: done.modelId, image };
}

/**
 * Single-image predictions, one every PACE_MS (a steady trickle, as an app's users send them; a tight loop
 * would itself take a core), until `until()` is true and at least `min` were sent; latencies in ms.
 */
async function predictLatencies(
  api: ApiClient,
  modelId: string,
  image: Buffer,
  min: number,
  until: () => boolean,
): Promise<number[]> {
  const out: number[] = [];
  while (out.length < min || !until()) {
    const t = performance.now();
    await api.predictMany(modelId, [image]);
    const ms = performance.now() - t;
    out.push(ms);
    await new Promise((r) => setTimeout(r, Math.max(0, PACE_MS - ms)));
  }
  return out;
}

const work = await mkdtemp(path.join(os.tmpdir(), "bench-ingest-"));
const server = await startLocalServer(Number(args.port));
try {
  const api = new ApiClient(server.url);
  say("packing Fashion-MNIST ...");
  const full = await packFashionMnist(args["data-dir"], path.join(work, "full"), {
    train: optInt(args["train-per-class"]),
    test: optInt(args["test-per-class"]),
  });
  const images = full.trainImages + full.testImages;
  say(`${images} images, ${round(full.bytes / 2 ** 20)} MiB`);
  let predict: { modelId: string; image: Buffer } | undefined;
  let idle: number[] = [];
  if (!args["no-predict"]) {
    say("training a small model for the predict latency check ...");
    predict = await smallModel(api, work);
    idle = await predictLatencies(api, predict.modelId, predict.image, 60, () => true);
  }
  const archive = await readFile(full.archivePath);
  // The 70,000 PNGs just written for the archive are not the server's work: flush them before timing.
  await rm(path.join(work, "full"), { recursive: true, force: true });
  spawnSync("sync");
  const tUpload = performance.now();
  const accepted = await api.uploadDataset(archive, "fashion-mnist.tar.gz", "fashion-mnist");
  const uploadSeconds = (performance.now() - tUpload) / 1000;
  const tIngest = performance.now();
  let ready = false;
  const readyDs = api.waitForDataset(accepted.id).finally(() => {
    ready = true;
  });
  const during = predict ? await predictLatencies(api, predict.modelId, predict.image, 1, () => ready) : [];
  const ds = await readyDs;
  const ingestSeconds = (performance.now() - tIngest) / 1000;
  const line = {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    images,
    archiveMiB: round(full.bytes / 2 ** 20),
    uploadSeconds: round(uploadSeconds, 2),
    ingestSeconds: round(ingestSeconds, 2),
    ingestImagesPerSec: round(images / ingestSeconds),
    serverImagesPerSec: ds.progress?.imagesPerSec,
    summary: ds.summary,
    ...(predict
      ? {
          predictIdleP50Ms: round(median(idle), 2),
          predictDuringIngestP50Ms: round(median(during), 2),
          predictDuringIngestRequests: during.length,
          predictP50Ratio: round(median(during) / median(idle), 2),
        }
      : {}),
  };
  if (args.json) process.stdout.write(`${JSON.stringify(line)}\n`);
  else say(JSON.stringify(line, null, 2));
} finally {
  await server.stop();
  await rm(work, { recursive: true, force: true });
}
