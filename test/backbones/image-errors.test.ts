import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import sharp from "sharp";
import { photo } from "../../scripts/lib/photos.js";
import { IMAGENET_224, type Preprocessing } from "../../src/backbones/manifest.js";
import {
  asImageError,
  inspectImage,
  preprocessImage,
  validateImage,
} from "../../src/backbones/preprocess.js";
import { decodeForIngest } from "../../src/datasets/decode.js";
import { ImageError } from "../../src/errors.js";
import { Rng } from "../../src/lib/rng.js";

const LIMIT = 50_000_000;
const FIT: Preprocessing = { ...IMAGENET_224, smallImages: "fit" };
const FORMAT = "(jpeg|png|gif|webp|tiff|heif)";
/** Every sentence a client may read about a bad image. */
const OUR_SENTENCES = [
  "^empty file$",
  `^corrupt or truncated image data( \\(${FORMAT}\\))?$`,
  `^unreadable image data( \\(${FORMAT}\\))?$`,
  "^unsupported image format: [a-z0-9]+$",
  "^image too large: (\\d+x\\d+ pixels exceeds the limit of \\d+|exceeds the limit of \\d+ pixels)$",
  "^image aspect ratio too extreme: \\d+x\\d+ pixels \\(limit \\d+:1\\)$",
  "^unsupported or corrupt image: (no dimensions|decoded to \\d+x\\d+x\\d+)$",
].map((s) => new RegExp(s));
/** libvips, glib and loader internals, memory addresses and paths. */
const INTERNALS =
  /vips|glib|spng|libpng|_buffer|load_|source:|xml|error domain|\b(jpeg|png|gif|webp|tiff|heif)\w*:|0x[0-9a-f]+|\/[\w.-]+\/|\bline \d|premature|datastream|iloc|seek/i;

/** What every public entry point says about `bytes`: the same ImageError reason, or a failure. */
async function reasonsFor(bytes: Buffer): Promise<string[]> {
  const attempts: [string, () => Promise<unknown>][] = [
    ["preprocessImage", () => preprocessImage(bytes, IMAGENET_224)],
    ["preprocessImage fit", () => preprocessImage(bytes, FIT)],
    ["preprocessImage augment", () => preprocessImage(bytes, IMAGENET_224, { augment: new Rng(7) })],
    ["validateImage", () => validateImage(bytes)],
    ["decodeForIngest", () => decodeForIngest(bytes, LIMIT)],
  ];
  const reasons: string[] = [];
  for (const [name, attempt] of attempts) {
    const err = await attempt().then(
      () => assert.fail(`${name} accepted a broken input`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ImageError, `${name}: expected ImageError, got ${String(err)}`);
    assert.equal(err.statusCode, 400);
    assert.equal(err.code, "INVALID_IMAGE");
    assert.equal(err.message, err.reason);
    assertOurs(err.reason, name);
    assert.ok(
      !JSON.stringify(err).match(INTERNALS),
      `${name}: serialized error leaks ${JSON.stringify(err)}`,
    );
    reasons.push(err.reason);
  }
  return reasons;
}

function assertOurs(reason: string, what: string): void {
  assert.ok(
    OUR_SENTENCES.some((s) => s.test(reason)),
    `${what}: "${reason}" is not one of our sentences`,
  );
  assert.doesNotMatch(reason, INTERNALS, `${what}: "${reason}" carries decoder internals`);
}

async function assertReason(bytes: Buffer, expected: string): Promise<void> {
  for (const reason of await reasonsFor(bytes)) assert.equal(reason, expected);
}

function randomBuffer(length: number, seed: number): Buffer {
  const rng = new Rng(seed);
  return Buffer.from(Array.from({ length }, () => rng.int(256)));
}

let jpeg: Buffer;
let png: Buffer;
let gif: Buffer;
let webp: Buffer;
let tiff: Buffer;
let avif: Buffer;
const half = (b: Buffer) => b.subarray(0, b.length >> 1);

before(async () => {
  jpeg = photo("cat");
  const small = sharp(jpeg).resize(64, 48);
  png = await sharp(jpeg).png().toBuffer();
  gif = await small.clone().gif().toBuffer();
  webp = await small.clone().webp().toBuffer();
  tiff = await small.clone().tiff().toBuffer();
  avif = await small.clone().avif({ effort: 0 }).toBuffer();
});

describe("bad images get a sentence of our own, never decoder internals", () => {
  it("truncated JPEGs: cut in the scan data and cut in the header", async () => {
    await assertReason(half(jpeg), "corrupt or truncated image data (jpeg)");
    await assertReason(jpeg.subarray(0, 1500), "corrupt or truncated image data (jpeg)");
    await assertReason(jpeg.subarray(0, 10), "corrupt or truncated image data (jpeg)");
  });

  it("truncated PNGs: cut in the pixel data and cut in the header", async () => {
    await assertReason(half(png), "corrupt or truncated image data (png)");
    await assertReason(png.subarray(0, 60), "corrupt or truncated image data (png)");
  });

  it("PNGs with a bad CRC: in the pixel data and in the header", async () => {
    const idat = Buffer.from(png);
    idat[png.indexOf("IDAT") + 10] ^= 0xff;
    await assertReason(idat, "corrupt or truncated image data (png)");
    const ihdr = Buffer.from(png);
    ihdr[29] ^= 0xff;
    await assertReason(ihdr, "corrupt or truncated image data (png)");
  });

  it("random bytes and text are of an unknown format", async () => {
    await assertReason(randomBuffer(2000, 1), "unsupported image format: unknown");
    await assertReason(Buffer.from("not a jpeg at all\n".repeat(20)), "unsupported image format: unknown");
  });

  it("SVG and PDF are unsupported formats, whether or not they parse", async () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>';
    await assertReason(Buffer.from(svg), "unsupported image format: svg");
    await assertReason(
      Buffer.from(`<?xml version="1.0"?>\n${svg.slice(0, 70)}`),
      "unsupported image format: svg",
    );
    await assertReason(Buffer.from("%PDF-1.4\n1 0 obj<<>>endobj\n"), "unsupported image format: pdf");
  });

  it("GIF, WebP, TIFF and AVIF with garbage or cut short", async () => {
    const garbage = Buffer.concat([gif.subarray(0, 40), randomBuffer(500, 2)]);
    await assertReason(garbage, "corrupt or truncated image data (gif)");
    await assertReason(half(gif), "corrupt or truncated image data (gif)");
    await assertReason(half(webp), "corrupt or truncated image data (webp)");
    await assertReason(half(tiff), "unreadable image data (tiff)");
    await assertReason(half(avif), "corrupt or truncated image data (heif)");
  });

  it("a zero-byte buffer is an empty file, also for inspectImage", async () => {
    await assertReason(Buffer.alloc(0), "empty file");
    await assert.rejects(inspectImage(Buffer.alloc(0), LIMIT), { reason: "empty file" });
  });

  it("keeps our own limits' sentences exactly", async () => {
    await assert.rejects(validateImage(jpeg, { maxPixels: 1000 }), {
      reason: "image too large: 500x375 pixels exceeds the limit of 1000",
    });
    const strip = await sharp({ create: { width: 2, height: 300, channels: 3, background: "#000" } })
      .png()
      .toBuffer();
    await assert.rejects(validateImage(strip), {
      reason: "image aspect ratio too extreme: 2x300 pixels (limit 100:1)",
    });
  });

  it("keeps the decoder's message as the cause and detail, for logs only", async () => {
    const err = await validateImage(half(jpeg)).catch((e: unknown) => e);
    assert.ok(err instanceof ImageError);
    assert.ok(err.cause instanceof Error);
    assert.match(err.detail ?? "", /premature end of JPEG/i);
    assert.doesNotMatch(JSON.stringify(err), /premature/i);
    assert.doesNotMatch(String(err), /premature/i);
  });

  it("maps decoder messages by category and drops addresses and paths", () => {
    const cases: [string, Parameters<typeof asImageError>[1], string][] = [
      [
        "Input image exceeds pixel limit",
        { format: "png", maxPixels: 1000 },
        "image too large: exceeds the limit of 1000 pixels",
      ],
      ["VipsJpeg: Premature end of input file", { format: "jpeg" }, "corrupt or truncated image data (jpeg)"],
      ["pngload_buffer: libspng read error", { format: "png" }, "corrupt or truncated image data (png)"],
      ["Input buffer has corrupt header: glib: XML parse error", {}, "corrupt or truncated image data"],
      ["Input buffer contains unsupported image format", {}, "unsupported image format: unknown"],
      ["Input buffer contains unsupported image format", { format: "tiff" }, "unreadable image data (tiff)"],
      [
        "vips2png: unable to write to target /tmp/vips-0-1234.png at 0x55d0c0ffee00",
        { format: "png" },
        "unreadable image data (png)",
      ],
      ["VipsImage: memory area too small at 0x7ffd1234", {}, "unreadable image data"],
      ["Unknown error", { format: "webp" }, "corrupt or truncated image data (webp)"],
    ];
    for (const [message, context, reason] of cases) {
      const err = asImageError(new Error(message), context);
      assert.equal(err.reason, reason, message);
      assert.equal(err.detail, message);
      assertOurs(err.reason, message);
    }
    const own = new ImageError("empty file");
    assert.equal(asImageError(own), own);
    assert.equal(own.detail, undefined);
  });
});
