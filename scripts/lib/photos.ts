import { readFileSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import yazl from "yazl";
import { PHOTOS_DIR as PHOTO_DIR } from "../../src/lib/paths.js";
import { Rng } from "../../src/lib/rng.js";

/** The real photos shipped as fixtures, one class each: cat, coffee, astronaut, motorcycle. */
export const PHOTO_CLASSES = {
  cat: "chelsea.jpg",
  coffee: "coffee.jpg",
  astronaut: "astronaut.jpg",
  motorcycle: "motorcycle_left.jpg",
};
export type PhotoClass = keyof typeof PHOTO_CLASSES;

/** The bytes of one fixture photo. */
export function photo(cls: PhotoClass): Buffer {
  return readFileSync(path.join(PHOTO_DIR, PHOTO_CLASSES[cls]));
}

/**
 * Distinct 500x375 JPEG variants of a real photo: a random crop (50-100% of each side), a random flip,
 * brightness and saturation jitter. Seeded, so the same arguments give the same files.
 */
export async function photoVariants(cls: PhotoClass, count: number, seed: number): Promise<Buffer[]> {
  const src = photo(cls);
  const rng = new Rng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const w = Math.round(500 * rng.uniform(0.5, 1));
    const h = Math.round(375 * rng.uniform(0.5, 1));
    const left = rng.int(500 - w + 1);
    const top = rng.int(375 - h + 1);
    let img = sharp(src).extract({ left, top, width: w, height: h }).resize(500, 375, { fit: "fill" });
    if (rng.next() < 0.5) img = img.flop();
    img = img.modulate({ brightness: rng.uniform(0.8, 1.2), saturation: rng.uniform(0.7, 1.3) });
    out.push(await img.jpeg({ quality: 80 + rng.int(15) }).toBuffer());
  }
  return out;
}

/** A zip archive (in memory) of `entries` (path -> bytes). */
export function zipOf(entries: Record<string, Buffer>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) zip.addBuffer(data, name);
  zip.end();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    zip.outputStream.on("data", (c: Buffer) => chunks.push(c));
    zip.outputStream.on("end", () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on("error", reject);
  });
}

/** An ImageFolder zip with `train/` and `test/` splits of photo variants of the given classes. */
export async function photoDatasetZip(
  classes: PhotoClass[],
  perClass: { train: number; test: number },
  seed = 1,
): Promise<Buffer> {
  const entries: Record<string, Buffer> = {};
  for (const [ci, cls] of classes.entries()) {
    const imgs = await photoVariants(cls, perClass.train + perClass.test, seed * 100 + ci);
    imgs.forEach((buf, i) => {
      const split = i < perClass.train ? "train" : "test";
      entries[`${split}/${cls}/${cls}_${i}.jpg`] = buf;
    });
  }
  return zipOf(entries);
}
