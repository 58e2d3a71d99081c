/**
 * `npm run bench:predict -- --json`: latency and throughput of POST /v1/models/:id/predict with one
 * 500x375 JPEG. Against a running server (--url, --model), or, with --start, on a stack it starts
 * itself (API + workers, fresh data folder) after training a small cat-vs-coffee model through the API
 * (on --backbone, default: the server's default backbone).
 */
import { parseArgs } from "node:util";
import { ApiClient, type LocalServer, startLocalServer } from "./lib/client.js";
import { photo, photoDatasetZip } from "./lib/photos.js";

const { values: args } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    url: { type: "string", default: "http://127.0.0.1:3000" },
    model: { type: "string" },
    start: { type: "boolean", default: false },
    port: { type: "string", default: "3199" },
    sequential: { type: "string", default: "200" },
    concurrency: { type: "string", default: "16" },
    requests: { type: "string", default: "800" },
    backbone: { type: "string" },
  },
});
const say = (m: string) => {
  if (!args.json) process.stderr.write(`${m}\n`);
};

async function trainModel(api: ApiClient): Promise<string> {
  const accepted = await api.uploadDataset(
    await photoDatasetZip(["cat", "coffee"], { train: 10, test: 4 }),
    "bench.zip",
    "bench-predict",
  );
  const ds = await api.waitForDataset(accepted.id);
  const job = await api.json<{ id: string }>("POST", "/v1/jobs", {
    datasetId: ds.id,
    epochs: 2,
    batchSize: 8,
    ...(args.backbone ? { backbone: args.backbone } : {}),
  });
  const done = await api.waitForJob<{ state: string; modelId?: string }>(job.id);
  if (done.state !== "completed" || !done.modelId)
    throw new Error(`training failed: ${JSON.stringify(done)}`);
  return done.modelId;
}

const image = photo("cat");
async function predictOnce(url: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(url, { method: "POST", headers: { "content-type": "image/jpeg" }, body: image });
  const body = (await res.json()) as { predictions?: unknown[] };
  if (res.status !== 200 || !body.predictions)
    throw new Error(`predict: HTTP ${res.status} ${JSON.stringify(body)}`);
  return performance.now() - t;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const round = (v: number) => Math.round(v * 100) / 100;

let server: LocalServer | undefined;
try {
  if (args.start) server = await startLocalServer(Number(args.port));
  const api = new ApiClient(server?.url ?? args.url);
  const model = args.model ?? (await trainModel(api));
  const url = new URL(`/v1/models/${model}/predict?topK=1`, api.base).href;
  say(`model ${model}; warming up`);
  for (let i = 0; i < 20; i++) await predictOnce(url);
  const n = Number(args.sequential);
  const lat: number[] = [];
  for (let i = 0; i < n; i++) lat.push(await predictOnce(url));
  lat.sort((a, b) => a - b);
  const conc = Number(args.concurrency);
  const total = Number(args.requests);
  let sent = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (sent < total) {
        sent++;
        await predictOnce(url);
      }
    }),
  );
  const secs = (performance.now() - t) / 1000;
  const out = {
    p50Ms: round(pct(lat, 50)),
    p99Ms: round(pct(lat, 99)),
    sequentialRequests: n,
    concurrency: conc,
    throughputPerSec: round(total / secs),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  await server?.stop();
}
