import sharp from "sharp";
import { PayloadTooLargeError } from "../errors.js";

/** Formats libvips decodes at 1/2, 1/4 or 1/8 of their size when the result is resized down. */
const SHRINK_ON_LOAD: ReadonlySet<string> = new Set(["jpeg", "webp"]);
/** Shorter side a shrunk decode keeps at least (above every backbone's resize target). */
const SHRINK_FLOOR = 512;

/**
 * What decoding an image costs, in pixels held by the decoder: width x height, divided by the square of
 * the shrink-on-load factor that JPEG and WebP allow (the decode keeps a shorter side of at least 512), and
 * doubled for 16-bit samples. An image whose header cannot be read costs 0: the worker refuses it anyway.
 */
export async function decodeCost(bytes: Buffer): Promise<number> {
  const meta = await sharp(bytes, { limitInputPixels: false })
    .metadata()
    .catch(() => undefined);
  if (!meta?.width || !meta.height) return 0;
  let shrink = 1;
  if (SHRINK_ON_LOAD.has(meta.format ?? "")) {
    while (shrink < 8 && Math.min(meta.width, meta.height) / (shrink * 2) >= SHRINK_FLOOR) shrink *= 2;
  }
  const depth = meta.depth === "ushort" || meta.depth === "short" ? 2 : 1;
  return Math.ceil(meta.width / shrink) * Math.ceil(meta.height / shrink) * depth;
}

/**
 * Refuses (413) the images of one `/predict` request when decoding them all would cost more than
 * `budget` pixels ({@link decodeCost}): one costly request cannot hold the predict worker for seconds
 * while the requests behind it wait.
 */
export async function assertPixelBudget(images: readonly Buffer[], budget: number): Promise<void> {
  let total = 0;
  for (const bytes of images) total += await decodeCost(bytes);
  if (total <= budget) return;
  const mp = (n: number) => (n / 1e6).toFixed(1);
  throw new PayloadTooLargeError(
    `the images of this request decode to ${mp(total)} M pixels, more than the limit of ${mp(budget)} M ` +
      "(PREDICT_MAX_REQUEST_PIXELS); send fewer or smaller images (JPEG and WebP decode at a fraction " +
      "of their size)",
  );
}
