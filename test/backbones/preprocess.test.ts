import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { randomResizedCropBox, resizedSize, roundHalfEven } from "../../src/backbones/augment.js";
import { IMAGENET_224, type Preprocessing } from "../../src/backbones/manifest.js";
import { FAIL_ON, preprocessImage, validateImage } from "../../src/backbones/preprocess.js";
import { ImageError } from "../../src/errors.js";
import { Rng } from "../../src/lib/rng.js";
import { claimedPng, crc32 } from "../helpers/images.js";

const PHOTOS = join(import.meta.dirname, "..", "..", "assets", "photos");
const S = 224;
/** Identity normalization: output floats are the 0..255 pixel values. */
const RAW: Preprocessing = { ...IMAGENET_224, layout: "NHWC", scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };

type Rgb = [number, number, number];
const solid = (width: number, height: number, [r, g, b]: Rgb, alpha = 1) =>
  sharp({ create: { width, height, channels: alpha === 1 ? 3 : 4, background: { r, g, b, alpha } } });
const norm = (p: Preprocessing, c: number, v: number) => Math.fround((v * p.scale - p.mean[c]) / p.std[c]);
/** Pixel (row, col) of an NHWC identity-normalized output. */
const at = (out: Float32Array, row: number, col: number): Rgb => {
  const i = (row * S + col) * 3;
  return [out[i], out[i + 1], out[i + 2]];
};
const rawPng = (raw: Buffer, width: number, height: number) =>
  sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
const assertEveryPixel = (out: Float32Array, rgb: Rgb, what: string) => {
  for (let i = 0; i < out.length; i++) if (out[i] !== rgb[i % 3]) assert.fail(`${what}: [${i}] = ${out[i]}`);
};
const diffs = (a: Float32Array, b: Float32Array) => a.map((v, i) => Math.abs(v - b[i]));
const meanAbsDiff = (a: Float32Array, b: Float32Array) => diffs(a, b).reduce((x, y) => x + y) / a.length;
async function rejects(promise: Promise<unknown>, reason: RegExp | string): Promise<ImageError> {
  const err = await promise.then(
    () => assert.fail("expected an ImageError"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ImageError, `expected ImageError, got ${String(err)}`);
  if (typeof reason === "string") assert.equal(err.reason, reason);
  else assert.match(err.reason, reason);
  assert.equal(err.statusCode, 400);
  return err;
}

let photo: Buffer;
let tmp: string;
before(async () => {
  photo = await readFile(join(PHOTOS, "chelsea.jpg"));
  tmp = await mkdtemp(join(tmpdir(), "preprocess-test-"));
});
after(() => rm(tmp, { recursive: true, force: true }));

describe("geometry helpers", () => {
  it("rounds halves to even like Python and truncates the longer side like torchvision", () => {
    assert.deepEqual(
      [0.5, 1.5, 2.5, 15.5, 16.5, -2.5, 2.4, 2.6].map(roundHalfEven),
      [0, 2, 2, 16, 16, -2, 2, 3],
    );
    assert.deepEqual(resizedSize(500, 375, 255), [340, 255]);
    assert.deepEqual(resizedSize(300, 401, 255), [255, 340]);
    assert.deepEqual(resizedSize(255, 255, 255), [255, 255]);
  });

  it("RandomResizedCrop boxes stay inside, within the scale range, and fall back to a center crop", () => {
    const rng = new Rng(3);
    for (let i = 0; i < 500; i++) {
      const box = randomResizedCropBox(500, 375, rng);
      assert.ok(box.top >= 0 && box.left >= 0 && box.top + box.height <= 375 && box.left + box.width <= 500);
      const fraction = (box.width * box.height) / (500 * 375);
      assert.ok(fraction > 0.07 && fraction < 1.01, `area fraction ${fraction}`);
      assert.ok(box.width / box.height > 0.7 && box.width / box.height < 1.4);
    }
    assert.deepEqual(randomResizedCropBox(1000, 10, new Rng(1)), {
      top: 0,
      left: 493,
      height: 10,
      width: 13,
    });
  });
});

describe("preprocessImage, evaluation transform", () => {
  it("maps a solid colour to exactly the normalized value in every element, in both layouts", async () => {
    const colour: Rgb = [10, 128, 250];
    const png = await solid(333, 517, colour).png().toBuffer();
    for (const layout of ["NCHW", "NHWC"] as const) {
      const p = { ...IMAGENET_224, layout };
      const out = await preprocessImage(png, p);
      assert.equal(out.length, 3 * S * S);
      for (let i = 0; i < out.length; i++) {
        const c = layout === "NCHW" ? Math.floor(i / (S * S)) : i % 3;
        if (out[i] !== norm(p, c, colour[c])) assert.fail(`${layout} element ${i}: ${out[i]}`);
      }
    }
  });

  it("center-crops without resizing when the shorter side is already resizeShorter (odd sizes round half to even)", async () => {
    const cases = [
      { w: 255, h: 300, left: 16, top: 38 },
      { w: 255, h: 301, left: 16, top: 38 },
      { w: 255, h: 303, left: 16, top: 40 },
      { w: 257, h: 255, left: 16, top: 16 },
      { w: 259, h: 255, left: 18, top: 16 },
    ];
    for (const { w, h, left, top } of cases) {
      const raw = Buffer.alloc(w * h * 3);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) raw.set([x & 255, y & 255, (x >> 8) * 16 + (y >> 8)], (y * w + x) * 3);
      const out = await preprocessImage(await rawPng(raw, w, h), RAW);
      for (let row = 0; row < S; row++) {
        for (let col = 0; col < S; col++) {
          const [x, y] = [left + col, top + row];
          const [r, g, b] = at(out, row, col);
          if (r !== (x & 255) || g !== (y & 255) || b !== (x >> 8) * 16 + (y >> 8)) {
            assert.fail(`${w}x${h} (${row},${col}) is ${[r, g, b]}`);
          }
        }
      }
    }
  });

  it("resizes the shorter side to 255 and then crops 224 around the centre", async () => {
    const [w, h, bg, fg] = [1020, 510, 100, 200];
    const [left, top] = [143, 16];
    const [r0, r1, c0, c1] = [40, 100, 60, 150];
    const raw = Buffer.alloc(w * h * 3, bg);
    for (let y = 2 * (top + r0); y < 2 * (top + r1); y++)
      raw.fill(fg, (y * w + 2 * (left + c0)) * 3, (y * w + 2 * (left + c1)) * 3);
    const out = await preprocessImage(await rawPng(raw, w, h), RAW);
    for (let row = 0; row < S; row++) {
      for (let col = 0; col < S; col++) {
        const inRows = row >= r0 && row < r1;
        const inCols = col >= c0 && col < c1;
        const nearEdge =
          Math.abs(row - r0) < 2 ||
          Math.abs(row - r1) < 2 ||
          Math.abs(col - c0) < 2 ||
          Math.abs(col - c1) < 2;
        if (!nearEdge && at(out, row, col)[0] !== (inRows && inCols ? fg : bg))
          assert.fail(`pixel (${row},${col})`);
      }
    }
    const mid = (r0 + r1) >> 1;
    for (const [a, b] of [
      [at(out, mid, c0 - 1), at(out, mid, c0)],
      [at(out, mid, c1), at(out, mid, c1 - 1)],
      [at(out, r0 - 1, 100), at(out, r0, 100)],
    ]) {
      assert.ok(a[0] < 150 && b[0] > 150 && Math.abs(a[0] + b[0] - bg - fg) <= 2, `edge ${a[0]} / ${b[0]}`);
    }
  });

  it("pads with zeros like torchvision's CenterCrop when resizeShorter is below inputSize", async () => {
    const out = await preprocessImage(await solid(100, 100, [200, 0, 0]).png().toBuffer(), {
      ...RAW,
      inputSize: 64,
      resizeShorter: 48,
    });
    for (let row = 0; row < 64; row++) {
      const inside = row >= 8 && row < 56;
      assert.equal(out[(row * 64 + 32) * 3], inside ? 200 : 0, `row ${row}`);
      assert.equal(out[(32 * 64 + row) * 3], inside ? 200 : 0, `col ${row}`);
    }
  });

  it("smallImages fit: a thumbnail is resized whole to inputSize, none of its edges cut", async () => {
    const raw = Buffer.alloc(28 * 28 * 3);
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++)
        if (x === 0 || y === 0 || x === 27 || y === 27) raw.fill(255, (y * 28 + x) * 3, (y * 28 + x) * 3 + 3);
    const png = await rawPng(raw, 28, 28);
    const fit = await preprocessImage(png, { ...RAW, smallImages: "fit" });
    const crop = await preprocessImage(png, RAW);
    assert.deepEqual(at(fit, 0, 0), [255, 255, 255], "the border survives at the corner");
    assert.deepEqual(at(fit, 112, 223), [255, 255, 255], "and at the middle of the right edge");
    assert.deepEqual(at(fit, 112, 112), [0, 0, 0]);
    assert.deepEqual(at(crop, 112, 223), [0, 0, 0], "the default crop cuts the border off");
    const photo = await readFile(join(PHOTOS, "coffee.jpg"));
    assert.deepEqual(
      await preprocessImage(photo, { ...RAW, smallImages: "fit" }),
      await preprocessImage(photo, RAW),
      "images larger than the input are unchanged",
    );
  });

  it("smallImages fit: tiny PNGs decoded in JS match libvips' decode of the same pixels, in both layouts", async () => {
    const fit: Preprocessing = { ...IMAGENET_224, smallImages: "fit" };
    const photoSmall = await sharp(photo).resize(28, 20, { fit: "fill" }).removeAlpha().raw().toBuffer();
    const gray = await sharp(photoSmall, { raw: { width: 28, height: 20, channels: 3 } })
      .toColourspace("b-w")
      .raw()
      .toBuffer();
    const cases: [string, Buffer, number][] = [
      ["rgb", photoSmall, 3],
      ["gray", gray, 1],
    ];
    for (const [what, raw, channels] of cases) {
      const source = sharp(raw, {
        raw: { width: 28, height: 20, channels: channels as 1 | 3 },
      }).toColourspace(channels === 1 ? "b-w" : "srgb");
      const png = await source.clone().png().toBuffer();
      const webp = await source.clone().webp({ lossless: true }).toBuffer();
      assert.equal((await sharp(png).metadata()).channels, channels);
      for (const layout of ["NHWC", "NCHW"] as const) {
        const a = await preprocessImage(png, { ...fit, layout });
        const b = await preprocessImage(webp, { ...fit, layout });
        const worst = diffs(a, b).reduce((x, y) => Math.max(x, y));
        assert.ok(worst < 1e-5, `${what} ${layout}: PNG and lossless WebP differ by ${worst}`);
      }
      const palette = await source.clone().png({ palette: true, colours: 256 }).toBuffer();
      assert.ok(meanAbsDiff(await preprocessImage(palette, fit), await preprocessImage(png, fit)) < 0.05);
    }
    const png = await rawPng(photoSmall, 28, 20);
    const idat = png.indexOf("IDAT");
    const broken = Buffer.from(png);
    broken[idat + 10] ^= 0xff;
    await rejects(preprocessImage(broken, fit), /corrupt/);
  });

  it("gives NCHW and NHWC outputs that are transposes of each other", async () => {
    const nchw = await preprocessImage(photo, IMAGENET_224);
    const nhwc = await preprocessImage(photo, { ...IMAGENET_224, layout: "NHWC" });
    for (let i = 0; i < S * S; i++) {
      for (let c = 0; c < 3; c++)
        if (nchw[c * S * S + i] !== nhwc[i * 3 + c]) assert.fail(`pixel ${i} channel ${c}`);
    }
    assert.ok(meanAbsDiff(nchw, nhwc) > 0.1, "layouts must actually differ in memory order");
  });

  it("honours EXIF orientation 6 like the physically rotated image", async () => {
    const tagged = await sharp(photo).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    assert.equal((await sharp(tagged).metadata()).orientation, 6);
    const rotated = await sharp(photo).rotate(90).jpeg({ quality: 95 }).toBuffer();
    const a = await preprocessImage(tagged, IMAGENET_224);
    const b = await preprocessImage(rotated, IMAGENET_224);
    assert.ok(meanAbsDiff(a, b) < 0.03, `oriented vs rotated ${meanAbsDiff(a, b)}`);
    assert.ok(meanAbsDiff(a, await preprocessImage(photo, IMAGENET_224)) > 0.3, "orientation must matter");
    assert.deepEqual(await validateImage(tagged), { width: 375, height: 500, format: "jpeg" });
  });

  it("matches sharp's own auto-orientation for all 8 EXIF orientations, with and without resizing", async () => {
    for (const source of [photo, await sharp(photo).resize(340, 255).jpeg().toBuffer()]) {
      for (let orientation = 1; orientation <= 8; orientation++) {
        const tagged = await sharp(source).withMetadata({ orientation }).jpeg({ quality: 95 }).toBuffer();
        const upright = await sharp(tagged).rotate().png().toBuffer();
        const a = await preprocessImage(tagged, RAW);
        const b = await preprocessImage(upright, RAW);
        const worst = diffs(a, b).reduce((x, y) => Math.max(x, y));
        assert.ok(worst <= 2, `orientation ${orientation}: differs by up to ${worst}`);
      }
    }
  });

  it("converts grayscale, palette, CMYK, RGBA (flattened onto white) and 16-bit images to exact RGB", async () => {
    const grey = await solid(300, 280, [77, 77, 77]).toColourspace("b-w").png().toBuffer();
    assert.equal((await sharp(grey).metadata()).channels, 1);
    const palette = await solid(300, 280, [10, 128, 250]).png({ palette: true }).toBuffer();
    assert.equal((await sharp(palette).metadata()).isPalette, true);
    const deep = new Uint16Array(300 * 280 * 3).map((_, i) => [30, 140, 220][i % 3] * 257);
    const png16 = await sharp(deep, { raw: { width: 300, height: 280, channels: 3 } })
      .toColourspace("rgb16")
      .png()
      .toBuffer();
    assert.equal((await sharp(png16).metadata()).depth, "ushort");
    const cases: [Buffer, Rgb][] = [
      [grey, [77, 77, 77]],
      [palette, [10, 128, 250]],
      [png16, [30, 140, 220]],
      [await solid(300, 280, [200, 10, 20], 1).ensureAlpha().png().toBuffer(), [200, 10, 20]],
      [await solid(300, 280, [0, 255, 0], 0).png().toBuffer(), [255, 255, 255]],
      [await solid(300, 280, [0, 0, 0], 0.5).png().toBuffer(), [127, 127, 127]],
    ];
    for (const [i, [input, rgb]] of cases.entries()) {
      const out = await preprocessImage(input, RAW);
      assert.equal(out.length, 3 * S * S);
      assertEveryPixel(out, rgb, `case ${i}`);
    }
    const cmyk = await solid(300, 280, [200, 180, 160])
      .toColourspace("cmyk")
      .jpeg({ quality: 95 })
      .toBuffer();
    const { space, channels } = await sharp(cmyk).metadata();
    assert.deepEqual([space, channels], ["cmyk", 4]);
    const out = await preprocessImage(cmyk, RAW);
    assert.equal(out.length, 3 * S * S);
    for (const [c, v] of at(out, 100, 100).entries()) {
      assert.ok(Math.abs(v - [200, 180, 160][c]) <= 10, `CMYK channel ${c}: ${v}`);
    }
  });

  it("writes into a batch buffer at an offset and nowhere else", async () => {
    const n = 3 * S * S;
    const batch = new Float32Array(2 * n + 5).fill(Number.NaN);
    const result = await preprocessImage(photo, IMAGENET_224, { out: batch, offset: n + 5 });
    assert.equal(result, batch);
    assert.deepEqual(batch.subarray(n + 5), await preprocessImage(photo, IMAGENET_224));
    assert.ok(batch.subarray(0, n + 5).every(Number.isNaN));
    await assert.rejects(preprocessImage(photo, IMAGENET_224, { out: batch, offset: n + 6 }), RangeError);
  });
});

describe("preprocessImage, training augmentation", () => {
  it("is deterministic for a seed, differs across seeds and stays within the value range", async () => {
    const a = await preprocessImage(photo, IMAGENET_224, { augment: new Rng(7) });
    const b = await preprocessImage(photo, IMAGENET_224, { augment: new Rng(7) });
    assert.deepEqual(a, b);
    const c = await preprocessImage(photo, IMAGENET_224, { augment: new Rng(8) });
    assert.ok(meanAbsDiff(a, c) > 0.1, `seeds 7 and 8 differ by ${meanAbsDiff(a, c)}`);
    assert.ok(meanAbsDiff(a, await preprocessImage(photo, IMAGENET_224)) > 0.1);
    for (const out of [a, c]) {
      assert.equal(out.length, 3 * S * S);
      for (let i = 0; i < out.length; i++) {
        const ch = Math.floor(i / (S * S));
        if (!(out[i] >= norm(IMAGENET_224, ch, 0) && out[i] <= norm(IMAGENET_224, ch, 255)))
          assert.fail(`${i}: ${out[i]}`);
      }
    }
  });

  it("rotates with black corners and keeps everything else from the image", async () => {
    const white = await solid(1200, 1000, [255, 255, 255]).png().toBuffer();
    let darkest = 255;
    for (let seed = 1; seed <= 12; seed++) {
      const out = await preprocessImage(white, RAW, { augment: new Rng(seed) });
      assert.equal(out.length, 3 * S * S);
      for (const v of out) {
        if (v < 0 || v > 255) assert.fail(`value ${v}`);
        darkest = Math.min(darkest, v);
      }
    }
    assert.ok(darkest < 30, `no rotated corner seen (darkest ${darkest})`);
  });
});

describe("bad inputs", () => {
  it("rejects a zero-byte buffer and a missing file", async () => {
    await rejects(preprocessImage(Buffer.alloc(0), IMAGENET_224), "empty file");
    await rejects(validateImage(Buffer.alloc(0)), "empty file");
    await rejects(preprocessImage(join(tmp, "missing.jpg"), IMAGENET_224), "cannot read image file (ENOENT)");
  });

  it("rejects a truncated JPEG, which sharp only refuses from failOn 'truncated' up", async () => {
    const half = photo.subarray(0, photo.length >> 1);
    const reason = "corrupt or truncated image data (jpeg)";
    await rejects(preprocessImage(half, IMAGENET_224), reason);
    await rejects(preprocessImage(half, IMAGENET_224, { augment: new Rng(1) }), reason);
    await rejects(validateImage(half), reason);
    assert.equal(FAIL_ON, "error");
    await sharp(half, { failOn: "none" }).raw().toBuffer();
    await assert.rejects(sharp(half, { failOn: "truncated" }).raw().toBuffer(), /premature end/i);
  });

  it("rejects text bytes named .jpg", async () => {
    const path = join(tmp, "notes.jpg");
    await writeFile(path, "these are not the pixels you are looking for\n".repeat(20));
    await rejects(preprocessImage(path, IMAGENET_224), "unsupported image format: unknown");
    await rejects(validateImage(path), "unsupported image format: unknown");
  });

  it("refuses a PNG claiming 30000x30000 pixels from its header, fast and without allocating", async () => {
    const png = claimedPng(30000, 30000);
    assert.equal(crc32(Buffer.from("IEND")), 0xae426082);
    const header = await sharp(png, { limitInputPixels: false }).metadata();
    assert.deepEqual([header.width, header.height], [30000, 30000]);
    const rss = process.memoryUsage().rss;
    const started = performance.now();
    const reason = "image too large: 30000x30000 pixels exceeds the limit of 50000000";
    await rejects(preprocessImage(png, IMAGENET_224), reason);
    await rejects(preprocessImage(png, IMAGENET_224, { augment: new Rng(1) }), reason);
    await rejects(validateImage(png), reason);
    assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
    assert.ok(process.memoryUsage().rss - rss < 256 * 2 ** 20, "allocated too much");
    await rejects(
      validateImage(photo, { maxPixels: 1000 }),
      "image too large: 500x375 pixels exceeds the limit of 1000",
    );
    const strip = await solid(2, 300, [0, 0, 0]).png().toBuffer();
    await rejects(validateImage(strip), "image aspect ratio too extreme: 2x300 pixels (limit 100:1)");
  });

  it("accepts every fixture photo in validateImage", async () => {
    for (const name of ["astronaut", "chelsea", "coffee", "motorcycle_left"]) {
      assert.deepEqual(await validateImage(join(PHOTOS, `${name}.jpg`)), {
        width: 500,
        height: 375,
        format: "jpeg",
      });
    }
  });
});
