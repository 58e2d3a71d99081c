import type { Preprocessing } from "./manifest.js";

/** A decoded small image: interleaved 8-bit pixels of 1 (gray) or 3 (RGB) channels. */
export interface SmallImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Size of an image scaled so that its longer side is `size` (the shorter one rounded, at least 1). */
export function fittedSize(width: number, height: number, size: number): [number, number] {
  const scale = size / Math.max(width, height);
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/** Source index pairs and weights of a 1-D bilinear resize with half-pixel centres (edges clamped). */
function taps(from: number, to: number): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
  const i0 = new Int32Array(to);
  const i1 = new Int32Array(to);
  const w = new Float32Array(to);
  const scale = from / to;
  for (let o = 0; o < to; o++) {
    const s = Math.min(from - 1, Math.max(0, (o + 0.5) * scale - 0.5));
    i0[o] = Math.floor(s);
    i1[o] = Math.min(from - 1, i0[o] + 1);
    w[o] = s - i0[o];
  }
  return { i0, i1, w };
}

/**
 * The `smallImages: "fit"` transform done in JS, fused with normalization: bilinear resize (half-pixel
 * centres) of the whole image so its longer side is `inputSize`, centred on a black square, written as
 * `(pixel * scale - mean) / std` in `p.layout` into `out` at `offset`. For thumbnails this costs a fraction
 * of a libvips resize pipeline (about 0.3 ms against 1.7 ms for 28x28 to 224x224 on one core).
 */
export function fitThumbnail(img: SmallImage, p: Preprocessing, out: Float32Array, offset: number): void {
  const size = p.inputSize;
  const [rw, rh] = fittedSize(img.width, img.height, size);
  const left = Math.floor((size - rw) / 2);
  const top = Math.floor((size - rh) / 2);
  const { data, width, height, channels: C } = img;
  const plane = size * size;
  const nhwc = p.layout === "NHWC";
  const gain = [0, 1, 2].map((c) => p.scale / p.std[c]);
  const bias = [0, 1, 2].map((c) => -p.mean[c] / p.std[c]);
  for (let c = 0; c < 3; c++) {
    if (nhwc) for (let i = offset + c; i < offset + 3 * plane; i += 3) out[i] = bias[c];
    else out.fill(bias[c], offset + c * plane, offset + (c + 1) * plane);
  }
  // Horizontal pass: every source row resized to rw values per channel.
  const xs = taps(width, rw);
  const rows = new Float32Array(height * rw * C);
  for (let y = 0; y < height; y++) {
    const src = y * width * C;
    const dst = y * rw * C;
    for (let ox = 0; ox < rw; ox++) {
      const a = src + xs.i0[ox] * C;
      const b = src + xs.i1[ox] * C;
      const w = xs.w[ox];
      for (let c = 0; c < C; c++) rows[dst + ox * C + c] = data[a + c] + (data[b + c] - data[a + c]) * w;
    }
  }
  // Vertical pass, fused with normalization and the write into the output layout.
  const ys = taps(height, rh);
  const line = rw * C;
  const [g0, g1, g2] = gain;
  const [b0, b1, b2] = bias;
  const lerp = new Float32Array(line);
  for (let oy = 0; oy < rh; oy++) {
    const r0 = ys.i0[oy] * line;
    const r1 = ys.i1[oy] * line;
    const w = ys.w[oy];
    for (let k = 0; k < line; k++) lerp[k] = rows[r0 + k] + (rows[r1 + k] - rows[r0 + k]) * w;
    const base = offset + ((top + oy) * size + left) * (nhwc ? 3 : 1);
    for (let ox = 0; ox < rw; ox++) {
      const k = ox * C;
      const r = lerp[k];
      const g = C === 1 ? r : lerp[k + 1];
      const b = C === 1 ? r : lerp[k + 2];
      if (nhwc) {
        const o = base + ox * 3;
        out[o] = r * g0 + b0;
        out[o + 1] = g * g1 + b1;
        out[o + 2] = b * g2 + b2;
      } else {
        const o = base + ox;
        out[o] = r * g0 + b0;
        out[o + plane] = g * g1 + b1;
        out[o + 2 * plane] = b * g2 + b2;
      }
    }
  }
}
