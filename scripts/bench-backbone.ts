/**
 * `npm run bench:backbone -- --json`: backbone throughput on ready tensors (imagesPerSec) and from JPEG
 * files to feature vectors (endToEndImagesPerSec), one JSON line per backbone and runtime. The JPEGs are
 * 500x375 variants of the real photos in assets/photos, written to a temporary folder. By default it
 * measures mobilenet_v2 (float), its TF.js wasm line for comparison, and mobilenet_v2_int8 (the same
 * network and weights, statically quantized); pick others with --backbones a,b (user backbones from BACKBONES_DIR too).
 * Backbones and ONNX Runtime run with the server's settings, read from the environment like the server.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { extractFeatures } from "../src/backbones/extractor.js";
import {
  NSFWJS_FEATURE_DIMS,
  NSFWJS_FEATURE_LAYERS,
  type NsfwjsModelName,
  nsfwjsArtifacts,
} from "../src/backbones/nsfwjs.js";
import type { LoadedBackbone } from "../src/backbones/registry.js";
import { openTfjsSession } from "../src/backbones/runtime/tfjs.js";
import { loadConfig } from "../src/config.js";
import { backboneRegistry } from "../src/context.js";
import { type PhotoClass, photoVariants } from "./lib/photos.js";

const { values: args } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    backbones: { type: "string", default: "mobilenet_v2,mobilenet_v2_int8" },
    images: { type: "string", default: "160" },
    batch: { type: "string", default: "32" },
    concurrency: { type: "string", default: "4" },
    "tfjs-images": { type: "string", default: "64" },
    "no-tfjs": { type: "boolean", default: false },
  },
});
const batch = Number(args.batch);
const config = loadConfig();
const say = (msg: string) => {
  if (!args.json) process.stderr.write(`${msg}\n`);
};

async function makeJpegs(dir: string, n: number): Promise<string[]> {
  const classes: PhotoClass[] = ["cat", "coffee", "astronaut", "motorcycle"];
  const files: string[] = [];
  for (const [ci, cls] of classes.entries()) {
    const imgs = await photoVariants(cls, Math.ceil(n / classes.length), 1000 + ci);
    for (const [i, buf] of imgs.entries()) {
      const file = path.join(dir, `${cls}_${i}.jpg`);
      await writeFile(file, buf);
      files.push(file);
    }
  }
  return files.slice(0, n);
}

/**
 * Backbone images/s on a ready random batch: the median of `rounds` timed rounds of `batches` batches
 * each, after one warm-up batch (the median keeps one noisy round on a shared VM from deciding the figure).
 */
async function tensorRate(bb: LoadedBackbone, batches: number, rounds: number): Promise<number> {
  const s = bb.manifest.preprocessing.inputSize;
  const input = new Float32Array(batch * 3 * s * s);
  for (let i = 0; i < input.length; i++) input[i] = Math.random();
  await bb.session.run(input, batch);
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    for (let i = 0; i < batches; i++) await bb.session.run(input, batch);
    rates.push((batches * batch) / ((performance.now() - t) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

async function endToEndRate(bb: LoadedBackbone, files: string[]): Promise<number> {
  await extractFeatures(files.slice(0, batch), bb, {
    batchSize: batch,
    concurrency: Number(args.concurrency),
  });
  const t = performance.now();
  const out = await extractFeatures(files, bb, { batchSize: batch, concurrency: Number(args.concurrency) });
  if (out.errors.length > 0) throw new Error(`extraction failed: ${out.errors[0].reason}`);
  return files.length / ((performance.now() - t) / 1000);
}

const round = (v: number) => Math.round(v * 10) / 10;
const work = await mkdtemp(path.join(os.tmpdir(), "bench-backbone-"));
try {
  const files = await makeJpegs(work, Number(args.images));
  say(`made ${files.length} JPEGs of 500x375 in ${work}`);
  const registry = backboneRegistry(config, path.join(work, "cache"), (_l, m) => say(m));
  for (const id of args.backbones.split(",")) {
    const bb = await registry.load(id);
    const line = {
      backbone: id,
      runtime: bb.session.runtime,
      batch,
      imagesPerSec: round(
        await tensorRate(bb, Math.max(2, Math.round(256 / batch / (id.startsWith("inception") ? 4 : 1))), 5),
      ),
      endToEndImagesPerSec: round(await endToEndRate(bb, files)),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    if (args["no-tfjs"] || !(id in NSFWJS_FEATURE_LAYERS)) continue;
    const m = bb.manifest;
    const p = m.preprocessing;
    const session = await openTfjsSession(nsfwjsArtifacts(id as NsfwjsModelName), "tfjs-layers", {
      layout: p.layout,
      inputSize: p.inputSize,
      outputName: m.featureOutput,
      featureDim: NSFWJS_FEATURE_DIMS[id as NsfwjsModelName],
    });
    // TF.js runs the network up to its final features only (no pooled depths): the same convolutions.
    const manifest = {
      ...m,
      featureDim: NSFWJS_FEATURE_DIMS[id as NsfwjsModelName],
      pooledLayers: undefined,
    };
    const tfjs: LoadedBackbone = { manifest, hash: `${bb.hash}-tfjs`, session };
    const tfjsFiles = files.slice(0, Number(args["tfjs-images"]));
    const tline = {
      backbone: id,
      runtime: session.runtime,
      batch,
      imagesPerSec: round(await tensorRate(tfjs, 1, 3)),
      endToEndImagesPerSec: round(await endToEndRate(tfjs, tfjsFiles)),
    };
    process.stdout.write(`${JSON.stringify(tline)}\n`);
    say(
      `${id}: onnxruntime ${line.imagesPerSec} vs ${session.runtime} ${tline.imagesPerSec} images/s = ${round(line.imagesPerSec / tline.imagesPerSec)}x`,
    );
    await session.release();
  }
  await registry.close();
} finally {
  await rm(work, { recursive: true, force: true });
}
