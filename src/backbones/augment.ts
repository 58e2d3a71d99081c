import sharp, { type OutputInfo, type SharpOptions } from "sharp";
import type { Rng } from "../lib/rng.js";
import type { Preprocessing } from "./manifest.js";

/** Most degrees RandomRotation turns either way. */
export const ROTATION_DEGREES = 30;
/** RandomResizedCrop's area fraction and aspect-ratio ranges (torchvision defaults). */
export const CROP_SCALE: readonly [number, number] = [0.08, 1];
export const CROP_RATIO: readonly [number, number] = [3 / 4, 4 / 3];
/** Augmentation first shrinks images so that their shorter side is at most inputSize times this... */
const WORKING_SHORT_FACTOR = 4;
/** ...and their longer side at most inputSize times this, bounding the rotated canvas. */
const WORKING_LONG_FACTOR = 8;

/** A crop box in pixels: `top`/`left` corner and size. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Python's `round()`: halves go to the even neighbour, as torchvision's geometry does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's `RandomResizedCrop.get_params`: up to 10 tries at a random area fraction and log-uniform
 * aspect ratio, then a center crop with the ratio clamped into range.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Rng,
  scale: readonly [number, number] = CROP_SCALE,
  ratio: readonly [number, number] = CROP_RATIO,
): CropBox {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) {
    h = roundHalfEven(w / ratio[0]);
  } else if (inRatio > ratio[1]) {
    w = roundHalfEven(h * ratio[1]);
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * Size of an image whose shorter side becomes `shorter`, the longer one scaled and truncated to an integer
 * like torchvision's `Resize(int)`.
 */
export function resizedSize(width: number, height: number, shorter: number): [number, number] {
  if (width <= height) return [shorter, Math.max(1, Math.floor((shorter * height) / width))];
  return [Math.max(1, Math.floor((shorter * width) / height)), shorter];
}

/**
 * Training augmentation to raw interleaved RGB bytes, `inputSize` square: EXIF orientation, alpha flattened
 * onto white, RandomRotation(30) (same size, black corners), RandomResizedCrop(inputSize) and
 * RandomHorizontalFlip(0.5), all randomness drawn from `rng` in that order.
 *
 * Images are first shrunk (never enlarged) to a shorter side of at most 4 x inputSize, so the smallest crops
 * still have about inputSize pixels across, and a longer side of at most 8 x inputSize, which bounds the
 * memory of the rotation. `width`/`height` are the EXIF-oriented dimensions.
 */
export async function augmentToRaw(
  input: Buffer,
  width: number,
  height: number,
  p: Preprocessing,
  rng: Rng,
  options: SharpOptions,
): Promise<{ data: Buffer; info: OutputInfo }> {
  const angle = rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES);
  const factor = Math.min(
    1,
    (p.inputSize * WORKING_SHORT_FACTOR) / Math.min(width, height),
    (p.inputSize * WORKING_LONG_FACTOR) / Math.max(width, height),
  );
  const w = Math.max(1, Math.round(width * factor));
  const h = Math.max(1, Math.round(height * factor));
  let first = sharp(input, options).rotate().flatten({ background: "#ffffff" });
  if (w !== width || h !== height) first = first.resize(w, h, { fit: "fill", kernel: "linear" });
  if (angle !== 0) first = first.rotate(-angle, { background: { r: 0, g: 0, b: 0, alpha: 1 } });
  const rotated = await first.toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
  const { width: rw, height: rh, channels } = rotated.info;

  const box = randomResizedCropBox(w, h, rng);
  const flip = rng.next() < 0.5;
  let second = sharp(rotated.data, { raw: { width: rw, height: rh, channels } })
    .extract({
      left: Math.floor((rw - w) / 2) + box.left,
      top: Math.floor((rh - h) / 2) + box.top,
      width: box.width,
      height: box.height,
    })
    .resize(p.inputSize, p.inputSize, { fit: "fill", kernel: "linear" });
  if (flip) second = second.flop();
  return second.removeAlpha().raw().toBuffer({ resolveWithObject: true });
}
