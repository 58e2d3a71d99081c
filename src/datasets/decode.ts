import sharp from "sharp";
import { asImageError, decodeOptions, inspectImage } from "../backbones/preprocess.js";
import { decodeTinyPng } from "../backbones/thumbnail.js";
import { ImageError } from "../errors.js";

/** An image decoded once at ingestion: 8-bit interleaved pixels, EXIF-oriented, alpha flattened onto white. */
export interface DecodedImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
  format: string;
}

/** Longest side of a PNG decoded in JS (small files only, see `decodeTinyPng`). */
const TINY_SIDE = 1024;

/**
 * Decodes an uploaded image completely, as ingestion does for every file: small plain PNGs in JS, the rest
 * with libvips (strict: truncated or corrupt files fail), checked against the pixel and aspect limits.
 *
 * @throws ImageError with a short reason of our own for anything that is not a usable image (the decoder's
 * message only as its `cause`).
 */
export async function decodeForIngest(bytes: Buffer, maxPixels: number): Promise<DecodedImage> {
  const tiny = decodeTinyPng(bytes, TINY_SIDE);
  if (tiny && tiny.width * tiny.height <= maxPixels) {
    return {
      pixels: tiny.data,
      width: tiny.width,
      height: tiny.height,
      channels: tiny.channels,
      format: "png",
    };
  }
  const { format } = await inspectImage(bytes, maxPixels);
  try {
    const { data, info } = await sharp(bytes, decodeOptions(maxPixels))
      .rotate()
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new ImageError(
        `unsupported or corrupt image: decoded to ${info.width}x${info.height}x${info.channels}`,
      );
    }
    return { pixels: data, width: info.width, height: info.height, channels: 3, format };
  } catch (err) {
    throw asImageError(err, { format, maxPixels });
  }
}
