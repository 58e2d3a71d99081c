/**
 * `npx tsx scripts/experiment-near-duplicates.ts [--samples N] [--queries N] [--pool N]`: the measurements
 * behind the near-duplicate threshold of the dataset report (src/datasets/report.ts), printed as one JSON.
 *
 * The dataset: all 70,000 Fashion-MNIST images (28x28 gray), the 58 photos of assets/photos, and near copies
 * of `--samples` Fashion-MNIST items (default 1000) and of every photo: JPEG quality 75, resized to 80%,
 * 4-6% cut off each edge and resized back (sharp), decoded as ingestion does.
 *
 * - signature cost per 28x28 image, `buildReport` time on the whole set;
 * - injected copies: `nearDistance` to their original (percentiles), the share the report finds, and the share
 *   it would find at other thresholds;
 * - pairs among the original images the report flags at each threshold, split into Fashion-MNIST's own
 *   duplicates (full-resolution RMS <= 6 gray levels) and look-alikes;
 * - the brute-force nearest unrelated image (`nearDistance`) of `--queries` items among `--pool`;
 * - the recall of the hashed search against brute force, on the first 5,000 items, the photos and their copies;
 * - what a naive 8x8 difference hash at Hamming <= 5 flags on the 70,000 originals.
 *
 * Data: /usr/share/datasets/fashion-mnist (Debian's `dataset-fashion-mnist`), assets/photos.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { decodeForIngest } from "../src/datasets/decode.js";
import { buildReport, findNearPairs, NEAR_MAX_DISTANCE, type ReportEntry } from "../src/datasets/report.js";
import { grayArea, type ImageSignature, imageSignature, nearDistance } from "../src/datasets/signature.js";
import { PHOTOS_DIR } from "../src/lib/paths.js";
import { Rng } from "../src/lib/rng.js";
import { readIdxImages, readIdxLabels } from "./lib/idx.js";

const { values: args } = parseArgs({
  options: {
    samples: { type: "string", default: "1000" },
    queries: { type: "string", default: "300" },
    pool: { type: "string", default: "20000" },
    "data-dir": { type: "string", default: "/usr/share/datasets/fashion-mnist" },
  },
});
const SAMPLES = Number(args.samples);
const QUERIES = Number(args.queries);
const POOL = Number(args.pool);
const LOOSE_DISTANCE = 12;
const GRID = [4, 5, 6, 7, 8, 9, 10, 11, 12];
/** Full-resolution RMS (gray levels) below which two Fashion-MNIST items count as the same picture. */
const SAME_PICTURE_RMS = 6;

const RECALL_SUBSET = 5000;

/** A 16x16 thumbnail averaged to 8x8 (RMS distances between such averages never exceed the originals'). */
function reduce8(t: Uint8Array): Float64Array {
  const out = new Float64Array(64);
  for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) out[(y >> 1) * 8 + (x >> 1)] += t[y * 16 + x] / 4;
  return out;
}

function rms(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

/** RMS difference of two images of the same size. */
function fullRms(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

type Raw = Omit<Awaited<ReturnType<typeof decodeForIngest>>, "format">;

/** Decodes with ingestion's own decoder. */
function decode(buf: Buffer) {
  return decodeForIngest(buf, 50_000_000);
}

function sharpOf(r: Raw) {
  return sharp(Buffer.from(r.pixels.buffer, r.pixels.byteOffset, r.pixels.length), {
    raw: { width: r.width, height: r.height, channels: r.channels },
  });
}

type Transform = "jpeg75" | "resize80" | "crop";
const TRANSFORMS: Transform[] = ["jpeg75", "resize80", "crop"];

/** The encoded file of a transformed copy of `r`. */
async function transformed(r: Raw, t: Transform, rng: Rng): Promise<Buffer> {
  if (t === "jpeg75") return sharpOf(r).jpeg({ quality: 75 }).toBuffer();
  if (t === "resize80") {
    return sharpOf(r)
      .resize(Math.round(r.width * 0.8), Math.round(r.height * 0.8), { fit: "fill" })
      .png()
      .toBuffer();
  }
  const cut = (side: number) => Math.max(1, Math.round(side * rng.uniform(0.04, 0.06)));
  const [left, right, top, bottom] = [cut(r.width), cut(r.width), cut(r.height), cut(r.height)];
  return sharpOf(r)
    .extract({ left, top, width: r.width - left - right, height: r.height - top - bottom })
    .resize(r.width, r.height, { fit: "fill" })
    .png()
    .toBuffer();
}

const sig = (r: Raw) => imageSignature(r.pixels, r.width, r.height, r.channels);

function percentiles(xs: number[]): Record<string, number> {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    n: s.length,
    min: r(s[0]),
    p5: r(at(0.05)),
    p25: r(at(0.25)),
    p50: r(at(0.5)),
    p75: r(at(0.75)),
    p95: r(at(0.95)),
    max: r(s[s.length - 1]),
  };
}

/** Pairs within `radius` bits among 64-bit hashes (multiplicities of equal hashes counted), by band probing. */
function countHammingPairs(hashes: [number, number][], radius: number): number {
  const mult = new Map<string, { h: [number, number]; n: number }>();
  for (const h of hashes) {
    const k = `${h[0]},${h[1]}`;
    const m = mult.get(k);
    if (m) m.n++;
    else mult.set(k, { h, n: 1 });
  }
  const uniq = [...mult.values()];
  let pairs = 0;
  for (const u of uniq) pairs += (u.n * (u.n - 1)) / 2;
  const buckets = Array.from({ length: 4 }, () => new Map<number, number[]>());
  const key = (h: [number, number], b: number) => ((b < 2 ? h[0] : h[1]) >>> (b % 2 === 0 ? 16 : 0)) & 0xffff;
  uniq.forEach((u, i) => {
    for (let b = 0; b < 4; b++) {
      const k = key(u.h, b);
      const list = buckets[b].get(k);
      if (list) list.push(i);
      else buckets[b].set(k, [i]);
    }
  });
  const seen = new Int32Array(uniq.length).fill(-1);
  uniq.forEach((u, i) => {
    for (let b = 0; b < 4; b++) {
      const k0 = key(u.h, b);
      for (let f = -1; f < 16; f++) {
        for (const j of buckets[b].get(f < 0 ? k0 : k0 ^ (1 << f)) ?? []) {
          if (j <= i || seen[j] === i) continue;
          seen[j] = i;
          if (hamming64(u.h, uniq[j].h) <= radius) pairs += u.n * uniq[j].n;
        }
      }
    }
  });
  return pairs;
}

/** The naive 64-bit difference hash: 9x8 area-averaged gray, bit = left pixel brighter than its right one. */
function dHash(r: Raw): [number, number] {
  const g = grayArea(
    r.pixels,
    r.width,
    r.height,
    r.channels,
    { x0: 0, x1: r.width, y0: 0, y1: r.height },
    9,
    8,
  );
  const bits = [0, 0];
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      const i = y * 8 + x;
      if (g[y * 9 + x] > g[y * 9 + x + 1]) bits[i >> 5] |= 1 << (31 - (i & 31));
    }
  }
  return [bits[0] >>> 0, bits[1] >>> 0];
}

function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

function hamming64(a: [number, number], b: [number, number]): number {
  return popcount32(a[0] ^ b[0]) + popcount32(a[1] ^ b[1]);
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

async function main() {
  const dir = args["data-dir"];
  const load = async (split: "train" | "t10k") => ({
    images: await readIdxImages(path.join(dir, `${split}-images-idx3-ubyte.gz`)),
    labels: await readIdxLabels(path.join(dir, `${split}-labels-idx1-ubyte.gz`)),
  });
  const parts = [await load("train"), await load("t10k")];
  const raws: Raw[] = [];
  const meta: { path: string; split: "train" | "test"; label: string; family: number }[] = [];
  for (const [pi, part] of parts.entries()) {
    const size = part.images.rows * part.images.cols;
    for (let i = 0; i < part.images.count; i++) {
      const pixels = part.images.pixels.subarray(i * size, (i + 1) * size);
      raws.push({ pixels, width: part.images.cols, height: part.images.rows, channels: 1 });
      const split = pi === 0 ? "train" : "test";
      const label = String(part.labels[i]);
      meta.push({
        path: `${split}/${label}/${String(i).padStart(5, "0")}.png`,
        split,
        label,
        family: raws.length - 1,
      });
    }
  }
  const fmCount = raws.length;
  let t0 = performance.now();
  const sigs: ImageSignature[] = raws.map(sig);
  const signatureMicros = ((performance.now() - t0) * 1000) / fmCount;

  const photoFiles = [
    ...readdirSync(path.join(PHOTOS_DIR, "natural")).map((f) => path.join(PHOTOS_DIR, "natural", f)),
    ...readdirSync(PHOTOS_DIR).map((f) => path.join(PHOTOS_DIR, f)),
  ].filter((f) => f.endsWith(".jpg"));
  for (const f of photoFiles) {
    const r = await decode(readFileSync(f));
    raws.push(r);
    sigs.push(sig(r));
    meta.push({
      path: `train/photo/${path.basename(f)}`,
      split: "train",
      label: "photo",
      family: raws.length - 1,
    });
  }
  const originals = raws.length;

  // Injected near copies, each of the family of its original.
  const rng = new Rng(20261130);
  const sampled = rng.shuffle(Array.from({ length: fmCount }, (_, i) => i)).slice(0, SAMPLES);
  const sources = [...sampled, ...Array.from({ length: originals - fmCount }, (_, i) => fmCount + i)];
  const copies: { kind: string; orig: number; copy: number; distance: number }[] = [];
  for (const t of TRANSFORMS) {
    const made = await Promise.all(sources.map((o) => transformed(raws[o], t, rng).then(decode)));
    made.forEach((r, k) => {
      const o = sources[k];
      raws.push(r);
      sigs.push(sig(r));
      meta.push({ ...meta[o], path: `${meta[o].path}.${t}`, family: o });
      const kind = `${o < fmCount ? "fashion-mnist" : "photos"}/${t}`;
      copies.push({
        kind,
        orig: o,
        copy: raws.length - 1,
        distance: nearDistance(sigs[o].near, sigs[raws.length - 1].near),
      });
    });
  }

  const entries: ReportEntry[] = meta.map((m, i) => ({
    path: m.path,
    split: m.split,
    label: m.label,
    sig: sigs[i],
  }));
  t0 = performance.now();
  const report = buildReport(entries, []);
  const buildReportMs = performance.now() - t0;
  const index = new Map(meta.map((m, i) => [m.path, i]));
  const reported = new Set(report.nearDuplicates.map((p) => p.paths.map((q) => index.get(q)).join(",")));
  const isReported = (a: number, b: number) => reported.has(a < b ? `${a},${b}` : `${b},${a}`);

  // Every pair within a loose threshold (the same search), to see what other thresholds would do.
  t0 = performance.now();
  const loose = findNearPairs(
    sigs.map((s) => s.near),
    LOOSE_DISTANCE,
  );
  const looseMs = performance.now() - t0;
  const looseKey = new Map(loose.map((p) => [`${p.a},${p.b}`, p.distance]));
  const pairsAmongOriginals = loose.filter((p) => p.b < originals);
  const byThreshold = GRID.map((maxDistance) => {
    const within = pairsAmongOriginals.filter((p) => p.distance <= maxDistance);
    const same = (p: { a: number; b: number }) =>
      p.b < fmCount && fullRms(raws[p.a].pixels, raws[p.b].pixels) <= SAME_PICTURE_RMS;
    const other = within.filter((p) => !same(p));
    const found = (kind: string) => {
      const list = copies.filter((c) => c.kind === kind);
      const hit = list.filter(
        (c) => (looseKey.get(`${c.orig},${c.copy}`) ?? Number.POSITIVE_INFINITY) <= maxDistance,
      );
      return round(hit.length / list.length, 3);
    };
    return {
      maxDistance,
      pairsAmongOriginals: within.length,
      samePicture: within.length - other.length,
      lookAlikes: other.length,
      imagesInLookAlikes: new Set(other.flatMap((p) => [p.a, p.b])).size,
      found: Object.fromEntries([...new Set(copies.map((c) => c.kind))].map((k) => [k, found(k)])),
    };
  });

  // Recall of the hashed search against brute force (8x8 lower bound, then nearDistance) at the threshold, on
  // the first Fashion-MNIST items, the photos and the copies of both.
  const keep = (i: number) => i < RECALL_SUBSET || (i >= fmCount && i < originals) || meta[i].family !== i;
  const subsetIdx = Array.from({ length: raws.length }, (_, i) => i).filter(
    (i) => keep(i) && keep(meta[i].family),
  );
  const subset = subsetIdx.map((i) => sigs[i].near);
  const hashed = new Set(findNearPairs(subset, NEAR_MAX_DISTANCE).map((p) => `${p.a},${p.b}`));
  const small = subset.map((s) => [reduce8(s.thumb), reduce8(s.zoom)]);
  const brute = { copies: [] as string[], others: [] as string[] };
  for (let a = 0; a < subset.length; a++) {
    for (let b = a + 1; b < subset.length; b++) {
      const [ta, za] = small[a];
      const [tb, zb] = small[b];
      if (Math.min(rms(ta, tb), rms(za, tb), rms(ta, zb)) > NEAR_MAX_DISTANCE) continue;
      if (nearDistance(subset[a], subset[b]) > NEAR_MAX_DISTANCE) continue;
      const sameFamily = meta[subsetIdx[a]].family === meta[subsetIdx[b]].family;
      (sameFamily ? brute.copies : brute.others).push(`${a},${b}`);
    }
  }
  const searchRecall = {
    images: subset.length,
    maxDistance: NEAR_MAX_DISTANCE,
    copyPairs: brute.copies.length,
    copyPairsFound: brute.copies.filter((k) => hashed.has(k)).length,
    otherPairs: brute.others.length,
    otherPairsFound: brute.others.filter((k) => hashed.has(k)).length,
  };

  t0 = performance.now();
  const naivePairs = countHammingPairs(raws.slice(0, fmCount).map(dHash), 5);
  const naiveMs = performance.now() - t0;

  // Unrelated pairs: brute-force nearest other original that is not the same picture.
  const pool = rng.shuffle(Array.from({ length: fmCount }, (_, i) => i)).slice(0, POOL);
  const nearestFm: number[] = [];
  for (const q of sampled.slice(0, QUERIES)) {
    let best = Number.POSITIVE_INFINITY;
    for (const j of pool) {
      if (j === q) continue;
      const d = nearDistance(sigs[q].near, sigs[j].near);
      if (d < best && fullRms(raws[q].pixels, raws[j].pixels) > SAME_PICTURE_RMS) best = d;
    }
    nearestFm.push(best);
  }
  const photoIdx = Array.from({ length: originals - fmCount }, (_, i) => fmCount + i);
  const nearestPhoto = photoIdx.map((a) =>
    Math.min(...photoIdx.filter((b) => b !== a).map((b) => nearDistance(sigs[a].near, sigs[b].near))),
  );

  const cpu = execFileSync("lscpu", { encoding: "utf8" });
  const field = (name: string) => cpu.match(new RegExp(`^${name}:\\s*(.+)$`, "m"))?.[1].trim();
  const kinds = [...new Set(copies.map((c) => c.kind))];
  const result = {
    cpu: {
      model: field("Model name"),
      family: field("CPU family"),
      modelNumber: field("Model"),
      cpus: field("CPU\\(s\\)"),
    },
    maxDistance: NEAR_MAX_DISTANCE,
    images: raws.length,
    signatureMicrosPer28x28: round(signatureMicros),
    buildReportMs: Math.round(buildReportMs),
    report: {
      exactGroups: report.exactDuplicates.length,
      nearPairs: report.nearDuplicates.length,
      leaks: report.leaks.length,
    },
    injected: Object.fromEntries(
      kinds.map((k) => {
        const list = copies.filter((c) => c.kind === k);
        return [
          k,
          {
            copies: list.length,
            foundByReport: round(list.filter((c) => isReported(c.orig, c.copy)).length / list.length, 3),
            distance: percentiles(list.map((c) => c.distance)),
          },
        ];
      }),
    ),
    byThreshold: {
      searchMs: Math.round(looseMs),
      note: `samePicture: full-resolution RMS <= ${SAME_PICTURE_RMS}`,
      grid: byThreshold,
    },
    nearestUnrelated: {
      fashionMnist: { queries: QUERIES, pool: POOL, distance: percentiles(nearestFm) },
      photos: { photos: photoIdx.length, distance: percentiles(nearestPhoto) },
    },
    searchRecall,
    naiveDHash8x8Hamming5: { images: fmCount, pairs: naivePairs, ms: Math.round(naiveMs) },
  };
  console.log(JSON.stringify(result, null, 2));
}

await main();
