/**
 * The dataset report on real images: the first 3,000 Fashion-MNIST items (28x28 gray PNGs; ankle boots cut
 * to 20) and the 58 photos of assets/photos, about 2,860 images in all, with injected problems of every kind (exact duplicates in other encodings, near duplicates,
 * exact and near train->test leaks, label conflicts, a rare class, unreadable files). Every file is decoded
 * with sharp as ingestion does. The bar: every exact duplicate, exact leak and conflict found, >= 75% of the
 * near duplicates, and at most 1% of the images in a wrong finding.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import sharp, { type Sharp } from "sharp";
import Value from "typebox/value";
import { CLASSES as FM_CLASSES } from "../../scripts/lib/fashion-archive.js";
import { readIdxImages, readIdxLabels } from "../../scripts/lib/idx.js";
import {
  buildReport,
  type DatasetReport,
  DatasetReportSchema,
  DatasetReportSummarySchema,
  type ReportEntry,
  reportSummary,
  symmetricEigen,
} from "../../src/datasets/report.js";
import {
  decodeSignature,
  encodeSignature,
  imageSignature,
  nearDistance,
} from "../../src/datasets/signature.js";
import { PHOTOS_DIR } from "../../src/lib/paths.js";
import { Rng } from "../../src/lib/rng.js";
import { FASHION_MNIST_DIR } from "../helpers/fashion-mnist.js";

const FM_IMAGES = 3000;
/** The rare class keeps only this many training images. */
const RARE = { label: "ankle_boot", train: 20 };
/**
 * Two Fashion-MNIST items whose 28x28 pixels differ by at most this RMS (gray levels) are the same picture:
 * Fashion-MNIST's own duplicates (45 such pairs in the 70,000, all viewed: the same photo, same label), found
 * by the report and counted as true findings. Look-alike items are further apart at full resolution.
 */
const GENUINE_RMS = 6;

interface Raw {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Decodes like ingestion: alpha flattened on white, gray files as one channel, others as sRGB. */
async function decode(buf: Buffer): Promise<Raw> {
  const meta = await sharp(buf).metadata();
  const img = sharp(buf).flatten({ background: "#ffffff" });
  const gray = (meta.channels ?? 3) <= 2;
  const { data, info } = await (gray ? img.toColourspace("b-w") : img.toColourspace("srgb"))
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.ok(info.channels === 1 || info.channels === 3, `${info.channels} channels`);
  return { pixels: data, width: info.width, height: info.height, channels: info.channels };
}

const sharpOf = (r: Raw) =>
  sharp(Buffer.from(r.pixels.buffer, r.pixels.byteOffset, r.pixels.length), {
    raw: { width: r.width, height: r.height, channels: r.channels },
  });

type ExactKind = "png-resave" | "webp-lossless" | "rgb-png";
type NearKind = "jpeg75" | "resize80" | "crop";

/** A file with the same decoded pixels as `r`, in another encoding. */
function exactCopy(r: Raw, kind: ExactKind): Promise<Buffer> {
  if (kind === "png-resave")
    return sharpOf(r).png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer();
  if (kind === "webp-lossless") return sharpOf(r).webp({ lossless: true }).toBuffer();
  return sharpOf(r).toColourspace("srgb").png().toBuffer();
}

/** The same picture re-encoded as JPEG 75, resized to 80%, or with 4-6% cut off each edge and resized back. */
function nearCopy(r: Raw, kind: NearKind, rng: Rng): Promise<Buffer> {
  const out = (s: Sharp) => (r.width > 64 ? s.jpeg({ quality: 90 }) : s.png()).toBuffer();
  if (kind === "jpeg75") return sharpOf(r).jpeg({ quality: 75 }).toBuffer();
  if (kind === "resize80") {
    return out(sharpOf(r).resize(Math.round(r.width * 0.8), Math.round(r.height * 0.8), { fit: "fill" }));
  }
  const cut = (side: number) => Math.max(1, Math.round(side * rng.uniform(0.04, 0.06)));
  const [left, right, top, bottom] = [cut(r.width), cut(r.width), cut(r.height), cut(r.height)];
  const crop = { left, top, width: r.width - left - right, height: r.height - top - bottom };
  return out(sharpOf(r).extract(crop).resize(r.width, r.height, { fit: "fill" }));
}

interface Base {
  family: number;
  file: Buffer;
  label: string;
  split: "train" | "test";
  /** The 28x28 pixels of a Fashion-MNIST item. */
  fm?: Uint8Array;
  path: string;
}

interface Injection {
  kind: "exact" | "near" | "exact-leak" | "near-leak" | "conflict";
  how: string;
  orig: string;
  copy: string;
}

interface Built {
  /** Every image file; `fm`: the 28x28 pixels of the Fashion-MNIST item it shows. */
  files: {
    path: string;
    label: string;
    split: "train" | "test";
    file: Buffer;
    family: number;
    fm?: Uint8Array;
  }[];
  injections: Injection[];
  /** The Fashion-MNIST pixels shown by each path (a copy: its original's). */
  fmPixels: Map<string, Uint8Array>;
  rejected: { path: string; reason: string }[];
  entries: ReportEntry[];
  report: DatasetReport;
  decodeSignMs: number;
}

async function buildDataset(): Promise<Built> {
  const images = await readIdxImages(path.join(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz"));
  const labels = await readIdxLabels(path.join(FASHION_MNIST_DIR, "train-labels-idx1-ubyte.gz"));
  const rng = new Rng(7);
  const size = images.rows * images.cols;
  const base: Base[] = [];
  let rare = 0;
  for (let i = 0; i < FM_IMAGES; i++) {
    const label = FM_CLASSES[labels[i]];
    if (label === RARE.label && rare++ >= RARE.train) continue;
    const fm = images.pixels.subarray(i * size, (i + 1) * size);
    const split = label === RARE.label || rng.next() < 0.85 ? "train" : "test";
    base.push({ family: i, label, split, fm, path: `${split}/${label}/fm${i}.png`, file: Buffer.alloc(0) });
  }
  await Promise.all(
    base.map(async (b) => {
      b.file = await sharpOf({ pixels: b.fm!, width: 28, height: 28, channels: 1 })
        .toColourspace("b-w")
        .png()
        .toBuffer();
    }),
  );
  const photoFiles = [
    ...readdirSync(path.join(PHOTOS_DIR, "natural")).map((f) => path.join(PHOTOS_DIR, "natural", f)),
    ...readdirSync(PHOTOS_DIR).map((f) => path.join(PHOTOS_DIR, f)),
  ].filter((f) => f.endsWith(".jpg"));
  photoFiles.sort().forEach((f, i) => {
    const split = rng.next() < 0.85 ? "train" : "test";
    const name = path.basename(f);
    base.push({
      family: 100_000 + i,
      label: "photo",
      split,
      path: `${split}/photo/${name}`,
      file: readFileSync(f),
    });
  });

  const files: Built["files"] = base.map((b) => ({ ...b }));
  const injections: Injection[] = [];
  const pool = (photo: boolean) =>
    rng.shuffle(
      base.filter((b) => b.split === "train" && (b.label === "photo") === photo && b.label !== RARE.label),
    );
  const pools = { fm: pool(false), photo: pool(true) };
  const exactKinds: ExactKind[] = ["png-resave", "webp-lossless", "rgb-png"];
  const nearKinds: NearKind[] = ["jpeg75", "resize80", "crop"];
  const inject = async (
    kind: Injection["kind"],
    from: "fm" | "photo",
    count: number,
    make: (r: Raw, k: number) => Promise<{ file: Buffer; how: string; ext: string }>,
    place: (o: Base) => { split: "train" | "test"; label: string },
  ) => {
    for (let k = 0; k < count; k++) {
      const o = pools[from].pop()!;
      const r = o.fm ? { pixels: o.fm, width: 28, height: 28, channels: 1 as const } : await decode(o.file);
      const { file, how, ext } = await make(r, k);
      const { split, label } = place(o);
      const copy = `${split}/${label}/${path.basename(o.path).replace(/\.\w+$/, "")}-${kind}-${how}.${ext}`;
      files.push({ path: copy, label, split, file, family: o.family, fm: o.fm });
      injections.push({ kind, how, orig: o.path, copy });
    }
  };
  const exact = (r: Raw, k: number) => {
    const how = exactKinds[k % 3];
    return exactCopy(r, how).then((file) => ({ file, how, ext: how === "webp-lossless" ? "webp" : "png" }));
  };
  const near = (r: Raw, k: number) => {
    const how = nearKinds[k % 3];
    const ext = how === "jpeg75" || r.width > 64 ? "jpg" : "png";
    return nearCopy(r, how, rng).then((file) => ({ file, how, ext }));
  };
  const same = (o: Base) => ({ split: "train" as const, label: o.label });
  const inTest = (o: Base) => ({ split: "test" as const, label: o.label });
  const otherClass = (o: Base) => ({
    split: "train" as const,
    label:
      o.label === "photo" ? "bag" : FM_CLASSES[((FM_CLASSES as readonly string[]).indexOf(o.label) + 1) % 9],
  });
  // Near copies: as many of each transform of Fashion-MNIST items as of photos.
  await inject("exact", "fm", 18, exact, same);
  await inject("exact", "photo", 4, (r, k) => exact(r, k % 2), same);
  await inject("near", "fm", 18, near, same);
  await inject("near", "photo", 18, near, same);
  await inject("exact-leak", "fm", 6, exact, inTest);
  await inject("exact-leak", "photo", 2, exact, inTest);
  await inject("near-leak", "fm", 3, near, inTest);
  await inject("near-leak", "photo", 3, near, inTest);
  await inject("conflict", "fm", 6, exact, otherClass);
  await inject("conflict", "photo", 2, exact, otherClass);

  const broken: { path: string; file: Buffer; label?: undefined }[] = [
    { path: "train/bag/truncated.png", file: base[0].file.subarray(0, 60) },
    { path: "train/photo/not-an-image.jpg", file: Buffer.from("hello, not a JPEG") },
  ];
  const entries: ReportEntry[] = [];
  const rejected: { path: string; reason: string }[] = [];
  const t0 = performance.now();
  await Promise.all(
    [...files, ...broken].map(async (f) => {
      try {
        const r = await decode(f.file);
        if (f.label !== undefined) {
          entries.push({
            path: f.path,
            split: f.split,
            label: f.label,
            sig: imageSignature(r.pixels, r.width, r.height, r.channels),
          });
        }
      } catch (e) {
        rejected.push({ path: f.path, reason: (e as Error).message });
      }
    }),
  );
  const decodeSignMs = performance.now() - t0;
  const fmPixels = new Map(files.filter((f) => f.fm).map((f) => [f.path, f.fm!]));
  return {
    files,
    injections,
    fmPixels,
    rejected,
    entries,
    report: buildReport(entries, rejected),
    decodeSignMs,
  };
}

/** RMS difference of two 28x28 Fashion-MNIST items at full resolution. */
function fullRms(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

describe("dataset report on real images with injected problems", () => {
  let d: Built;
  before(async () => {
    d = await buildDataset();
  });
  const pairKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);
  const of = (kind: Injection["kind"]) => d.injections.filter((i) => i.kind === kind);

  it("decodes every file but the broken ones, and the report matches its schema", async (t) => {
    t.diagnostic(`${d.entries.length} images decoded and signed in ${Math.round(d.decodeSignMs)} ms`);
    const byPath = new Map(d.files.map((f) => [f.path, f.file]));
    for (const inj of d.injections.filter((i) => i.how === "rgb-png")) {
      const [orig, copy] = await Promise.all(
        [inj.orig, inj.copy].map((p) => sharp(byPath.get(p)).metadata()),
      );
      assert.deepEqual([orig.channels, copy.channels], [1, 3], `${inj.copy} is an RGB PNG of a gray one`);
    }
    assert.equal(d.entries.length, d.files.length);
    assert.deepEqual(
      d.report.rejected.map((r) => r.path),
      ["train/bag/truncated.png", "train/photo/not-an-image.jpg"],
    );
    assert.ok(Value.Check(DatasetReportSchema, d.report));
    const summary = reportSummary(d.report);
    assert.ok(Value.Check(DatasetReportSummarySchema, summary));
    assert.deepEqual(summary, {
      exactDuplicates: d.report.exactDuplicates.length,
      nearDuplicates: d.report.nearDuplicates.length,
      leaks: d.report.leaks.length,
      conflicts: d.report.conflicts.length,
      imbalanceRatio: d.report.imbalance.ratio,
    });
  });

  it("finds every exact duplicate, whatever the encoding (PNG re-saved, lossless WebP, gray vs RGB)", () => {
    const groups = new Map<string, string[]>();
    for (const g of d.report.exactDuplicates) for (const p of g.paths) groups.set(p, g.paths);
    for (const inj of [...of("exact"), ...of("exact-leak"), ...of("conflict")]) {
      assert.ok(groups.get(inj.orig)?.includes(inj.copy), `${inj.how}: ${inj.orig} = ${inj.copy}`);
    }
    const nearPairs = new Set(d.report.nearDuplicates.map((p) => pairKey(p.paths[0], p.paths[1])));
    for (const g of d.report.exactDuplicates) {
      assert.deepEqual(g.paths, [...g.paths].sort());
      assert.ok(!nearPairs.has(pairKey(g.paths[0], g.paths[1])), "an exact pair is not also near");
    }
  });

  it("finds every exact leak and every conflict", () => {
    const leaks = new Set(d.report.leaks.map((l) => `${l.train}>${l.other}:${l.kind}`));
    for (const inj of of("exact-leak")) assert.ok(leaks.has(`${inj.orig}>${inj.copy}:exact`), inj.copy);
    for (const inj of of("conflict")) {
      const c = d.report.conflicts.find((c) => c.paths.includes(inj.orig) && c.paths.includes(inj.copy));
      assert.ok(c, `conflict ${inj.orig} / ${inj.copy}`);
      assert.notEqual(c.labels[c.paths.indexOf(inj.orig)], c.labels[c.paths.indexOf(inj.copy)]);
    }
  });

  it("finds at least 75% of the near duplicates and near leaks", (t) => {
    const pairs = new Set(d.report.nearDuplicates.map((p) => pairKey(p.paths[0], p.paths[1])));
    const leaks = new Set(d.report.leaks.map((l) => `${l.train}>${l.other}:${l.kind}`));
    const near = [...of("near"), ...of("near-leak")];
    const found = (i: Injection) =>
      pairs.has(pairKey(i.orig, i.copy)) && (i.kind === "near" || leaks.has(`${i.orig}>${i.copy}:near`));
    const byHow: Record<string, string> = {};
    for (const how of ["jpeg75", "resize80", "crop"]) {
      for (const photo of [false, true]) {
        const set = near.filter((i) => i.how === how && i.orig.includes("/photo/") === photo);
        byHow[`${photo ? "photo" : "fm"}/${how}`] = `${set.filter(found).length}/${set.length}`;
      }
    }
    const recall = near.filter(found).length / near.length;
    t.diagnostic(`near recall ${recall.toFixed(3)} ${JSON.stringify(byHow)}`);
    assert.ok(recall >= 0.75, `near recall ${recall}`);
  });

  it("flags at most 1% of the images wrongly (Fashion-MNIST's own duplicates count as true)", (t) => {
    const family = new Map(d.files.map((f) => [f.path, f.family]));
    const genuine: string[] = [];
    const isTrue = (paths: string[]) => {
      if (paths.every((p) => family.get(p) === family.get(paths[0]))) return true;
      const px = paths.map((p) => d.fmPixels.get(p));
      if (px.some((p) => !p)) return false;
      const ok = px.every((p) => fullRms(p!, px[0]!) <= GENUINE_RMS);
      if (ok) genuine.push(`${paths.join(" ~ ")} (${fullRms(px[1]!, px[0]!).toFixed(1)})`);
      return ok;
    };
    const wrong = new Set<string>();
    const check = (paths: string[]) => {
      if (!isTrue(paths)) for (const p of paths) wrong.add(p);
    };
    for (const g of d.report.exactDuplicates) check(g.paths);
    for (const g of d.report.conflicts) check(g.paths);
    for (const p of d.report.nearDuplicates) check(p.paths);
    for (const l of d.report.leaks) check([l.train, l.other]);
    t.diagnostic(
      `wrongly flagged: ${wrong.size} of ${d.entries.length} images: ${[...wrong].slice(0, 20).join(", ")}`,
    );
    t.diagnostic(`Fashion-MNIST's own duplicates: ${genuine.length}: ${genuine.slice(0, 10).join("; ")}`);
    assert.ok(wrong.size <= 0.01 * d.entries.length, `${wrong.size} images flagged wrongly`);
  });

  it("reports the rare class as the smallest, with the ratio of the train counts", () => {
    const counts = new Map<string, number>();
    for (const e of d.entries) if (e.split === "train") counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
    const max = Math.max(...counts.values());
    assert.equal(d.report.imbalance.smallest, RARE.label);
    assert.equal(counts.get(d.report.imbalance.largest), max);
    assert.equal(d.report.imbalance.ratio, Math.round((max / counts.get(RARE.label)!) * 100) / 100);
    assert.ok(d.report.imbalance.ratio > 5);
  });

  it("is deterministic: the same report whatever the order of the entries", () => {
    const shuffled = new Rng(3).shuffle([...d.entries]);
    assert.deepEqual(buildReport(shuffled, [...d.rejected].reverse()), d.report);
  });
});

describe("symmetricEigen", () => {
  it("diagonalises a symmetric matrix: A v = lambda v, unit orthogonal vectors", () => {
    const n = 12;
    const rng = new Rng(11);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng.uniform(-1, 1);
    }
    const { values, vectors } = symmetricEigen(a, n);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let j = 0; j < n; j++) av += a[i * n + j] * vectors[k * n + j];
        assert.ok(Math.abs(av - values[k] * vectors[k * n + i]) < 1e-9, `row ${i} of A v${k}`);
      }
      for (let m = 0; m < n; m++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += vectors[k * n + i] * vectors[m * n + i];
        assert.ok(Math.abs(dot - (k === m ? 1 : 0)) < 1e-9);
      }
    }
  });
});

describe("imageSignature", () => {
  const gray = (w: number, h: number, seed: number) => {
    const rng = new Rng(seed);
    return Uint8Array.from({ length: w * h }, () => rng.int(256));
  };
  const rgbOf = (g: Uint8Array) => Uint8Array.from({ length: g.length * 3 }, (_, i) => g[Math.floor(i / 3)]);

  it("gives a gray image and its R=G=B expansion the same signature", () => {
    for (const [w, h] of [
      [28, 28],
      [7, 5],
      [640, 480],
    ]) {
      const g = gray(w, h, w);
      assert.deepEqual(imageSignature(rgbOf(g), w, h, 3), imageSignature(g, w, h, 1));
    }
  });

  it("tells apart one changed pixel (exact) but not in the perceptual distance", () => {
    const g = gray(28, 28, 1);
    const h = g.slice();
    h[300] ^= 1;
    const a = imageSignature(g, 28, 28, 1);
    const b = imageSignature(h, 28, 28, 1);
    assert.notEqual(a.exact, b.exact);
    assert.ok(nearDistance(a.near, b.near) < 0.5);
    assert.equal(a.exact.length, 32);
    assert.notEqual(imageSignature(g, 28, 28, 1).exact, imageSignature(g, 784, 1, 1).exact);
  });

  it("survives encodeSignature / decodeSignature", () => {
    const sig = imageSignature(gray(28, 28, 5), 28, 28, 1);
    const text = encodeSignature(sig);
    assert.deepEqual(decodeSignature(text), sig);
    assert.throws(() => decodeSignature(text.slice(0, 100)), /not a signature/);
  });

  it("refuses a buffer too short for its size", () => {
    assert.throws(() => imageSignature(new Uint8Array(10), 28, 28, 1), /10 bytes/);
  });

  it("costs well under 0.1 ms for a 28x28 image", (t) => {
    const imgs = Array.from({ length: 200 }, (_, i) => gray(28, 28, i));
    for (const g of imgs) imageSignature(g, 28, 28, 1);
    const t0 = performance.now();
    for (let r = 0; r < 10; r++) for (const g of imgs) imageSignature(g, 28, 28, 1);
    const micros = ((performance.now() - t0) * 1000) / 2000;
    t.diagnostic(`${micros.toFixed(1)} µs per 28x28 signature`);
    assert.ok(micros < 100, `${micros} µs`);
  });
});
