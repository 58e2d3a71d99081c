/**
 * Image signatures for the dataset report (`GET /v1/datasets/:id/report`).
 *
 * - `exact`: a SHA-256 over the width, the height and the RGB pixels, so two files are exact duplicates when
 *   they decode to the same pixels, whatever the encoding (a gray image hashes as its R=G=B expansion).
 * - `near`: two 16x16 gray thumbnails (area-averaged): one of the whole picture, one of its central part
 *   (`ZOOM_CROP` cut from each edge) magnified to the same grid, so that a lightly cropped copy still lines up
 *   with its original. `nearDistance` compares them; the report searches them with exact lower bounds
 *   (src/datasets/report.ts).
 */
import { createHash } from "node:crypto";

/** Side of the square gray thumbnails. */
export const THUMB_SIZE = 16;
/** Fraction of each side cut from each edge for the zoomed thumbnail. */
export const ZOOM_CROP = 0.05;
/** Images larger than this on a side are first area-averaged to at most this size (linear time). */
const MID_SIZE = 64;

/** What the near-duplicate search needs of one image. */
export interface NearSignature {
  /** `THUMB_SIZE`² gray levels (0-255) of the whole picture, area-averaged, row-major. */
  thumb: Uint8Array;
  /** `THUMB_SIZE`² gray levels of the central part, magnified to the same grid. */
  zoom: Uint8Array;
}

/** The signature of one decoded image. */
export interface ImageSignature {
  /** Hex SHA-256 (first 32 characters) of width, height and RGB pixels. */
  exact: string;
  near: NearSignature;
}

/** One axis of an area-averaging resampler: per output cell, the first source index and the weights. */
interface AxisMap {
  first: Int32Array;
  /** Weights of output `o` are `weights[offset[o]]` to `weights[offset[o + 1] - 1]`; they sum to 1. */
  offset: Int32Array;
  weights: Float64Array;
}

/** The most recently used axis maps (a dataset has few image sizes), newest first. */
const axisCache: { len: number; from: number; to: number; out: number; map: AxisMap }[] = [];
const AXIS_CACHE_SIZE = 16;

/** The area-averaging map from source interval [from, to) of an axis of `len` pixels onto `out` cells. */
function axisMap(len: number, from: number, to: number, out: number): AxisMap {
  for (const c of axisCache) {
    if (c.len === len && c.from === from && c.to === to && c.out === out) return c.map;
  }
  const step = (to - from) / out;
  const first = new Int32Array(out);
  const offset = new Int32Array(out + 1);
  const weights: number[] = [];
  for (let o = 0; o < out; o++) {
    const a = from + o * step;
    const b = a + step;
    const p0 = Math.min(len - 1, Math.floor(a));
    const p1 = Math.max(p0 + 1, Math.min(len, Math.ceil(b)));
    first[o] = p0;
    offset[o] = weights.length;
    for (let p = p0; p < p1; p++) weights.push(Math.max(0, Math.min(b, p + 1) - Math.max(a, p)) / step);
    const sum = weights.slice(offset[o]).reduce((s, w) => s + w, 0);
    for (let k = offset[o]; k < weights.length; k++) weights[k] = sum > 0 ? weights[k] / sum : 1;
  }
  offset[out] = weights.length;
  const map = { first, offset, weights: Float64Array.from(weights) };
  axisCache.unshift({ len, from, to, out, map });
  if (axisCache.length > AXIS_CACHE_SIZE) axisCache.pop();
  return map;
}

/**
 * Area-averaged gray levels of the source rectangle [x0, x1) x [y0, y1) (fractional pixel coordinates) of an
 * interleaved 8-bit image, on an `outW` x `outH` grid. Gray = (77 R + 150 G + 29 B) / 256, so R=G=B=v gives
 * exactly v and a gray image and its RGB expansion give identical results. Linear in the rectangle's area.
 */
export function grayArea(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  rect: { x0: number; x1: number; y0: number; y1: number },
  outW: number,
  outH: number,
): Float64Array {
  const mx = axisMap(width, rect.x0, rect.x1, outW);
  const my = axisMap(height, rect.y0, rect.y1, outH);
  const rowFirst = my.first[0];
  const rowEnd = my.first[outH - 1] + (my.offset[outH] - my.offset[outH - 1]);
  const tmp = new Float64Array((rowEnd - rowFirst) * outW);
  const { first, offset, weights } = mx;
  for (let y = rowFirst; y < rowEnd; y++) {
    const base = y * width * channels;
    const t = (y - rowFirst) * outW;
    for (let o = 0; o < outW; o++) {
      let s = 0;
      let p = base + first[o] * channels;
      const end = offset[o + 1];
      if (channels === 1) {
        for (let k = offset[o]; k < end; k++) s += pixels[p++] * weights[k];
      } else {
        for (let k = offset[o]; k < end; k++, p += channels) {
          s += (77 * pixels[p] + 150 * pixels[p + 1] + 29 * pixels[p + 2]) * 0.00390625 * weights[k];
        }
      }
      tmp[t + o] = s;
    }
  }
  const out = new Float64Array(outW * outH);
  for (let o = 0; o < outH; o++) {
    const row0 = my.first[o] - rowFirst;
    const end = my.offset[o + 1];
    for (let k = my.offset[o], r = row0 * outW; k < end; k++, r += outW) {
      const w = my.weights[k];
      for (let x = 0; x < outW; x++) out[o * outW + x] += tmp[r + x] * w;
    }
  }
  return out;
}

function toBytes(grid: Float64Array): Uint8Array {
  const out = new Uint8Array(grid.length);
  for (let i = 0; i < grid.length; i++) out[i] = Math.round(grid[i]);
  return out;
}

const HASH_CHUNK = 3 * 16384;

/** Hex SHA-256 (32 characters) of width, height and the RGB pixels (gray expanded to R=G=B). */
function exactHash(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): string {
  const h = createHash("sha256");
  const head = Buffer.alloc(8);
  head.writeUInt32BE(width, 0);
  head.writeUInt32BE(height, 4);
  h.update(head);
  const n = width * height;
  if (channels === 3) {
    h.update(pixels.subarray(0, 3 * n));
  } else {
    const rgb = new Uint8Array(Math.min(HASH_CHUNK, 3 * n));
    for (let start = 0; start < n; start += rgb.length / 3) {
      const end = Math.min(n, start + rgb.length / 3);
      for (let i = start, o = 0; i < end; i++, o += 3) {
        const v = pixels[i];
        rgb[o] = v;
        rgb[o + 1] = v;
        rgb[o + 2] = v;
      }
      h.update(rgb.subarray(0, 3 * (end - start)));
    }
  }
  return h.digest("hex").slice(0, 32);
}

/**
 * The signature of a decoded image: `pixels` are `width` x `height` interleaved 8-bit gray (`channels` 1) or
 * RGB (`channels` 3) values, already oriented and alpha-flattened. A gray image and its R=G=B expansion get
 * the same signature. About 25 µs for a 28x28 image; linear in the pixel count (60 ms for 12 megapixels).
 */
export function imageSignature(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
): ImageSignature {
  if (width < 1 || height < 1 || pixels.length < width * height * channels) {
    throw new Error(`imageSignature: ${pixels.length} bytes for ${width}x${height}x${channels}`);
  }
  let src: ArrayLike<number> = pixels;
  let w = width;
  let h = height;
  let ch: number = channels;
  if (width > MID_SIZE || height > MID_SIZE) {
    w = Math.min(width, MID_SIZE);
    h = Math.min(height, MID_SIZE);
    src = grayArea(pixels, width, height, channels, { x0: 0, x1: width, y0: 0, y1: height }, w, h);
    ch = 1;
  }
  const full = grayArea(src, w, h, ch, { x0: 0, x1: w, y0: 0, y1: h }, THUMB_SIZE, THUMB_SIZE);
  const cx = ZOOM_CROP * w;
  const cy = ZOOM_CROP * h;
  const center = grayArea(src, w, h, ch, { x0: cx, x1: w - cx, y0: cy, y1: h - cy }, THUMB_SIZE, THUMB_SIZE);
  return {
    exact: exactHash(pixels, width, height, channels),
    near: { thumb: toBytes(full), zoom: toBytes(center) },
  };
}

const THUMB_BYTES = THUMB_SIZE * THUMB_SIZE;

/** A signature as one string (`exact:base64`, 716 characters), to store beside a dataset. */
export function encodeSignature(sig: ImageSignature): string {
  const buf = Buffer.alloc(2 * THUMB_BYTES);
  buf.set(sig.near.thumb, 0);
  buf.set(sig.near.zoom, THUMB_BYTES);
  return `${sig.exact}:${buf.toString("base64")}`;
}

/** The signature `encodeSignature` wrote. */
export function decodeSignature(text: string): ImageSignature {
  const [exact, data] = text.split(":");
  const buf = Buffer.from(data ?? "", "base64");
  if (!exact || buf.length !== 2 * THUMB_BYTES) throw new Error("decodeSignature: not a signature");
  return {
    exact,
    near: {
      thumb: Uint8Array.from(buf.subarray(0, THUMB_BYTES)),
      zoom: Uint8Array.from(buf.subarray(THUMB_BYTES)),
    },
  };
}

/** Root-mean-square difference, in gray levels, of two thumbnails of the same size. */
export function thumbDistance(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s / a.length);
}

/**
 * The perceptual distance between two images (RMS gray-level difference of 16x16 thumbnails, 0 = same
 * thumbnail): the smallest of whole vs whole, and of the central part of either vs the whole of the other,
 * so that a copy with a few percent cropped off the edges still matches its original.
 */
export function nearDistance(a: NearSignature, b: NearSignature): number {
  return Math.min(
    thumbDistance(a.thumb, b.thumb),
    thumbDistance(a.zoom, b.thumb),
    thumbDistance(a.thumb, b.zoom),
  );
}
