import { readFile } from "node:fs/promises";
import sharp, { type Metadata, type OutputInfo, type SharpOptions } from "sharp";
import { ImageError } from "../errors.js";
import type { Rng } from "../lib/rng.js";
import { augmentToRaw, resizedSize, roundHalfEven } from "./augment.js";
import type { Preprocessing } from "./manifest.js";
import { decodeTinyPng, fitThumbnail, fittedSize, type SmallImage } from "./thumbnail.js";

/** Default cap on width x height of an input image, checked from its header before decoding. */
export const DEFAULT_MAX_PIXELS = 50_000_000;
/**
 * sharp's `failOn` level for untrusted input: "truncated" is the least strict level that rejects a
 * truncated JPEG ("none" decodes it with grey filler); "error" also rejects other decode errors, while
 * "warning" would refuse common, harmless JPEG oddities such as extraneous bytes before a marker.
 */
export const FAIL_ON = "error" as const;
/** Raster formats accepted from clients; SVG, PDF and the like are refused. */
export const ACCEPTED_FORMATS: ReadonlySet<string> = new Set(["jpeg", "png", "webp", "gif", "tiff", "heif"]);
/** Longest accepted side ratio: stranger strips would resize to absurd sizes and are not photos. */
export const MAX_ASPECT_RATIO = 100;
/**
 * EXIF orientation as [clockwise quarter turns in degrees, mirror first]: done by hand after the resize,
 * because sharp's `.rotate()` auto-orientation combined with `.extract()` orients before resizing, which
 * turns off JPEG shrink-on-load for every rotated phone photo.
 */
const ORIENTATIONS: Record<number, [number, boolean]> = {
  2: [0, true],
  3: [180, false],
  4: [180, true],
  5: [270, true],
  6: [90, false],
  7: [90, true],
  8: [270, false],
};
/** Formats whose 1- or 3-channel 8-bit decodes are gray or sRGB, so thumbnails can skip the libvips resize. */
const SMALL_FORMATS: ReadonlySet<string> = new Set(["png", "jpeg", "webp", "gif"]);
/** Alpha is flattened onto this colour before resizing (transparent pixels become white). */
const ALPHA_BACKGROUND = "#ffffff";
type DecoderFailure = "too-large" | "unsupported" | "corrupt";
/** libvips messages by the category a client is told (never the message itself); others are "unreadable". */
const DECODER_MESSAGES: readonly [RegExp, DecoderFailure][] = [
  [/exceeds pixel limit/i, "too-large"],
  [/unsupported image format|not a known (file )?format/i, "unsupported"],
  [
    /premature end|unexpected end|end of (file|data|stream)|truncat|corrupt|read error|crc|checksum|bad seek|out of (data|bounds)|unable to parse|invalid|datastream/i,
    "corrupt",
  ],
  // libvips keeps its error text per thread and loses it under concurrent decodes: the same truncated JPEG
  // then fails with a bare "Unknown error". A decode that failed without a reason is corrupt data.
  [/^unknown error$/i, "corrupt"],
];
/** Magic numbers that name the format of a file libvips cannot read: [format, offset, bytes as latin1]. */
const SIGNATURES: readonly [string, number, string][] = [
  ["jpeg", 0, "\xff\xd8\xff"],
  ["png", 0, "\x89PNG\r\n\x1a\n"],
  ["gif", 0, "GIF8"],
  ["webp", 8, "WEBP"],
  ["tiff", 0, "II*\0"],
  ["tiff", 0, "MM\0*"],
  ["pdf", 0, "%PDF"],
];
const HEIF_BRAND = /^ftyp(hei[cxms]|hev[cxms]|mif1|msf1|avi[fs])/;

/** Options of {@link preprocessImage}. */
export interface PreprocessOptions {
  /** Applies the training augmentation, every random choice drawn from this generator. */
  augment?: Rng;
  /** Largest width x height accepted (default {@link DEFAULT_MAX_PIXELS}). */
  maxPixels?: number;
  /** Writes the result here (e.g. a batch buffer) instead of a new array. */
  out?: Float32Array;
  /** Element of `out` where the result starts (default 0). */
  offset?: number;
}

/** What {@link validateImage} reports: EXIF-oriented size and the container format. */
export interface ImageInfo {
  width: number;
  height: number;
  format: string;
}

interface Inspected extends ImageInfo {
  orientation: number;
  hasAlpha: boolean;
}

interface RawImage {
  data: Buffer;
  info: OutputInfo;
}

/**
 * Turns an image into a backbone input tensor of `3 * inputSize²` floats in `p.layout`, each value
 * `(pixel * scale - mean[c]) / std[c]`.
 *
 * Without `augment` this is the evaluation transform: EXIF orientation, sRGB with alpha flattened onto
 * white, resize so the shorter side is `resizeShorter` (the other truncated like torchvision's
 * `Resize(int)`), then torchvision's `CenterCrop(inputSize)` (zero padding when smaller). With `augment`
 * it is RandomRotation(30), RandomResizedCrop(inputSize) and RandomHorizontalFlip, see `augmentToRaw`.
 *
 * @throws ImageError for every unreadable, corrupt, unsupported or oversized input.
 * @throws RangeError when `out` cannot hold the result at `offset`.
 */
export async function preprocessImage(
  input: Buffer | string,
  p: Preprocessing,
  options: PreprocessOptions = {},
): Promise<Float32Array> {
  const size = p.inputSize;
  const length = 3 * size * size;
  const offset = options.offset ?? 0;
  const out = options.out ?? new Float32Array(length);
  if (!Number.isInteger(offset) || offset < 0 || offset + length > out.length) {
    throw new RangeError(`output buffer of ${out.length} floats cannot hold ${length} at offset ${offset}`);
  }
  const maxPixels = pixelLimit(options.maxPixels);
  const bytes = await readInput(input);
  if (!options.augment && p.smallImages === "fit") {
    const tiny = decodeTinyPng(bytes, size);
    if (tiny && tiny.width * tiny.height <= maxPixels) {
      fitThumbnail(tiny, p, out, offset);
      return out;
    }
  }
  const image = await inspect(bytes, maxPixels);
  let raw: RawImage;
  try {
    if (!options.augment && isThumbnail(image, p)) {
      const small = await decodeSmall(bytes, image, maxPixels);
      if (small) {
        fitThumbnail(small, p, out, offset);
        return out;
      }
    }
    raw = options.augment
      ? await augmentToRaw(bytes, image.width, image.height, p, options.augment, decodeOptions(maxPixels))
      : await centerCropRaw(bytes, image, p, maxPixels);
  } catch (err) {
    throw asImageError(err, { format: image.format, maxPixels });
  }
  const { info } = raw;
  if (info.width !== size || info.height !== size || info.channels < 3) {
    throw new ImageError(
      `unsupported or corrupt image: decoded to ${info.width}x${info.height}x${info.channels}`,
    );
  }
  normalize(raw.data, info.channels, p, out, offset);
  return out;
}

/**
 * Checks that an input is an accepted image within the pixel limit and decodes it completely once (to a
 * tiny output), so corrupt or truncated files are refused at ingestion.
 *
 * @returns the EXIF-oriented width and height and the format ("jpeg", "png", ...).
 * @throws ImageError with a short reason.
 */
export async function validateImage(
  input: Buffer | string,
  options: { maxPixels?: number } = {},
): Promise<ImageInfo> {
  const maxPixels = pixelLimit(options.maxPixels);
  const bytes = await readInput(input);
  const { width, height, format } = await inspect(bytes, maxPixels);
  try {
    await sharp(bytes, decodeOptions(maxPixels))
      .resize(16, 16, { fit: "inside", withoutEnlargement: true })
      .raw()
      .toBuffer();
  } catch (err) {
    throw asImageError(err, { format, maxPixels });
  }
  return { width, height, format };
}

async function centerCropRaw(
  bytes: Buffer,
  { width, height, orientation }: Inspected,
  p: Preprocessing,
  maxPixels: number,
): Promise<RawImage> {
  const size = p.inputSize;
  const fit = isThumbnail({ width, height }, p);
  const [rw, rh] = fit ? fittedSize(width, height, size) : resizedSize(width, height, p.resizeShorter);
  const [turn, mirror] = ORIENTATIONS[orientation] ?? [0, false];
  let image = sharp(bytes, decodeOptions(maxPixels)).flatten({ background: ALPHA_BACKGROUND });
  if (rw !== width || rh !== height) {
    const quarter = turn % 180 !== 0;
    image = image.resize(quarter ? rh : rw, quarter ? rw : rh, { fit: "fill", kernel: "linear" });
  }
  if (mirror) image = image.flop();
  if (turn !== 0) image = image.rotate(turn);
  const cw = Math.min(rw, size);
  const ch = Math.min(rh, size);
  if (cw !== rw || ch !== rh) {
    image = image.extract({
      left: roundHalfEven((rw - cw) / 2),
      top: roundHalfEven((rh - ch) / 2),
      width: cw,
      height: ch,
    });
  }
  if (cw < size || ch < size) {
    const left = Math.floor((size - cw) / 2);
    const top = Math.floor((size - ch) / 2);
    image = image.extend({
      left,
      right: size - cw - left,
      top,
      bottom: size - ch - top,
      background: { r: 0, g: 0, b: 0, alpha: 1 },
    });
  }
  return image.toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
}

/** True for an image that `smallImages: "fit"` resizes whole: no larger than the input on both sides. */
function isThumbnail({ width, height }: { width: number; height: number }, p: Preprocessing): boolean {
  return p.smallImages === "fit" && width <= p.inputSize && height <= p.inputSize;
}

/**
 * Decodes a thumbnail at its own size, EXIF-oriented, alpha flattened onto white, for {@link fitThumbnail};
 * undefined for anything but 8-bit gray or RGB output (CMYK, 16-bit, TIFF colour spaces, ...), which takes
 * the libvips path.
 */
async function decodeSmall(
  bytes: Buffer,
  image: Inspected,
  maxPixels: number,
): Promise<SmallImage | undefined> {
  if (!SMALL_FORMATS.has(image.format)) return undefined;
  const [turn, mirror] = ORIENTATIONS[image.orientation] ?? [0, false];
  let pipeline = sharp(bytes, decodeOptions(maxPixels));
  if (image.hasAlpha) pipeline = pipeline.flatten({ background: ALPHA_BACKGROUND });
  if (mirror) pipeline = pipeline.flop();
  if (turn !== 0) pipeline = pipeline.rotate(turn);
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  const { width, height, channels } = info;
  const eightBit = data.length === width * height * channels;
  if (!eightBit || !(channels === 1 || channels === 3) || width !== image.width || height !== image.height) {
    return undefined;
  }
  return { data, width, height, channels };
}

function normalize(
  pixels: Buffer,
  channels: number,
  p: Preprocessing,
  out: Float32Array,
  offset: number,
): void {
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v * p.scale - p.mean[c]) / p.std[c];
  }
  const count = p.inputSize * p.inputSize;
  if (p.layout === "NHWC") {
    for (let i = 0, s = 0, o = offset; i < count; i++, s += channels, o += 3) {
      out[o] = lut[pixels[s]];
      out[o + 1] = lut[256 + pixels[s + 1]];
      out[o + 2] = lut[512 + pixels[s + 2]];
    }
    return;
  }
  const g = offset + count;
  const b = g + count;
  for (let i = 0, s = 0; i < count; i++, s += channels) {
    out[offset + i] = lut[pixels[s]];
    out[g + i] = lut[256 + pixels[s + 1]];
    out[b + i] = lut[512 + pixels[s + 2]];
  }
}

/** sharp's options for untrusted input: strict decoding, at most `maxPixels`. */
export function decodeOptions(maxPixels: number): SharpOptions {
  return { failOn: FAIL_ON, limitInputPixels: maxPixels };
}

function pixelLimit(maxPixels: number | undefined): number {
  if (maxPixels === undefined) return DEFAULT_MAX_PIXELS;
  return Math.max(1, Math.floor(maxPixels));
}

async function readInput(input: Buffer | string): Promise<Buffer> {
  let bytes: Buffer;
  if (typeof input === "string") {
    try {
      bytes = await readFile(input);
    } catch (err) {
      throw new ImageError(`cannot read image file (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  } else {
    bytes = input;
  }
  if (bytes.length === 0) throw new ImageError("empty file");
  return bytes;
}

/**
 * Reads an image's header: accepted format, within `maxPixels` and the aspect ratio limit.
 *
 * @throws ImageError with a short reason.
 */
export async function inspectImage(bytes: Buffer, maxPixels: number): Promise<ImageInfo> {
  const { width, height, format } = await inspect(bytes, maxPixels);
  return { width, height, format };
}

async function inspect(bytes: Buffer, maxPixels: number): Promise<Inspected> {
  if (bytes.length === 0) throw new ImageError("empty file");
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw asImageError(err, { format: sniffFormat(bytes), maxPixels });
  }
  const format = meta.format ?? "unknown";
  if (!ACCEPTED_FORMATS.has(format)) throw new ImageError(`unsupported image format: ${format}`);
  const { width, height } = meta;
  if (!width || !height) throw new ImageError("unsupported or corrupt image: no dimensions");
  if (width * height > maxPixels) {
    throw new ImageError(`image too large: ${width}x${height} pixels exceeds the limit of ${maxPixels}`);
  }
  if (Math.max(width, height) > MAX_ASPECT_RATIO * Math.min(width, height)) {
    throw new ImageError(
      `image aspect ratio too extreme: ${width}x${height} pixels (limit ${MAX_ASPECT_RATIO}:1)`,
    );
  }
  const oriented = meta.autoOrient ?? { width, height };
  return {
    width: oriented.width,
    height: oriented.height,
    format,
    orientation: meta.orientation ?? 1,
    hasAlpha: meta.hasAlpha ?? true,
  };
}

/** What {@link asImageError} knows of the input besides the decoder's error. */
export interface ImageErrorContext {
  /** The format from the header or magic number, named in the reason when known. */
  format?: string;
  /** The pixel limit in force, named when the decoder refused the image as too large. */
  maxPixels?: number;
}

/**
 * Turns a decoder's (sharp/libvips) error into an ImageError whose reason is a sentence of our own:
 * "corrupt or truncated image data (jpeg)", "unsupported image format: svg", "unreadable image data (png)",
 * "image too large: ...". The decoder's message never reaches the reason; it stays as the error's `cause`
 * (and `detail`) for logs. ImageErrors pass through unchanged.
 */
export function asImageError(err: unknown, context: ImageErrorContext = {}): ImageError {
  if (err instanceof ImageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ImageError(decoderReason(message, context), { cause: err });
}

function decoderReason(message: string, { format, maxPixels }: ImageErrorContext): string {
  if (format && !ACCEPTED_FORMATS.has(format)) return `unsupported image format: ${format}`;
  const named = format ? ` (${format})` : "";
  switch (DECODER_MESSAGES.find(([pattern]) => pattern.test(message))?.[1]) {
    case "too-large":
      return maxPixels ? `image too large: exceeds the limit of ${maxPixels} pixels` : "image too large";
    case "unsupported":
      return format ? `unreadable image data${named}` : "unsupported image format: unknown";
    case "corrupt":
      return `corrupt or truncated image data${named}`;
    default:
      return `unreadable image data${named}`;
  }
}

/** The format a file's first bytes claim ("jpeg", "svg", ...), or undefined when none is recognised. */
function sniffFormat(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, 512).toString("latin1");
  const hit = SIGNATURES.find(([, offset, magic]) => head.startsWith(magic, offset));
  if (hit) return hit[0];
  if (HEIF_BRAND.test(head.slice(4))) return "heif";
  if (/^(\xef\xbb\xbf)?\s*<[?!a-z]/i.test(head) && /<svg[\s>]/i.test(head)) return "svg";
  return undefined;
}
