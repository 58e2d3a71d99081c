/**
 * Fashion-MNIST as a user would upload it: IDX files -> `train|test/<class>/<index>.png` -> `.tar.gz`.
 */
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import * as tar from "tar";
import { readIdxImages, readIdxLabels } from "./idx.js";

/** Folder names of labels 0-9 (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot). */
export const CLASSES = [
  "t-shirt_top",
  "trouser",
  "pullover",
  "dress",
  "coat",
  "sandal",
  "shirt",
  "sneaker",
  "bag",
  "ankle_boot",
] as const;

/** The IDX files of Debian's dataset-fashion-mnist package. */
export const FILES = {
  trainImages: "train-images-idx3-ubyte.gz",
  trainLabels: "train-labels-idx1-ubyte.gz",
  testImages: "t10k-images-idx3-ubyte.gz",
  testLabels: "t10k-labels-idx1-ubyte.gz",
};

/** Indices of the first `perClass` images of each label, in file order (all of them when undefined). */
export function firstPerClass(
  labels: Uint8Array,
  perClass: number | undefined,
  note: (msg: string) => void = () => {},
): number[] {
  const taken = new Array<number>(CLASSES.length).fill(0);
  const out: number[] = [];
  labels.forEach((label, i) => {
    if (label >= CLASSES.length)
      throw new Error(`label ${label} at index ${i} is not a Fashion-MNIST class (0-9)`);
    if (perClass === undefined || taken[label] < perClass) {
      taken[label]++;
      out.push(i);
    }
  });
  const short = taken
    .map((n, c) => [CLASSES[c], n] as const)
    .filter(([, n]) => perClass !== undefined && n < perClass);
  if (short.length > 0) note(`note: only ${short.map(([c, n]) => `${n} ${c}`).join(", ")} available`);
  return out;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Writes the chosen images of one split as `<root>/<split>/<class>/<index>.png`; returns the count. */
export async function writeSplit(
  dataDir: string,
  root: string,
  split: "train" | "test",
  perClass: number | undefined,
  note?: (msg: string) => void,
): Promise<number> {
  const prefix = split === "train" ? "train" : "test";
  const images = await readIdxImages(path.join(dataDir, FILES[`${prefix}Images`]));
  const labels = await readIdxLabels(path.join(dataDir, FILES[`${prefix}Labels`]));
  if (images.count !== labels.length) {
    throw new Error(`${split}: ${images.count} images but ${labels.length} labels`);
  }
  for (const c of CLASSES) await mkdir(path.join(root, split, c), { recursive: true });
  const chosen = firstPerClass(labels, perClass, note);
  const size = images.rows * images.cols;
  const width = String(images.count - 1).length;
  await eachLimit(chosen, 16, async (i) => {
    const raw = images.pixels.subarray(i * size, (i + 1) * size);
    const file = path.join(root, split, CLASSES[labels[i]], `${String(i).padStart(width, "0")}.png`);
    await sharp(raw, { raw: { width: images.cols, height: images.rows, channels: 1 } })
      .png()
      .toFile(file);
  });
  return chosen.length;
}

/** Writes both splits under `workDir` and packs them as `workDir/fashion-mnist.tar.gz`. */
export async function packFashionMnist(
  dataDir: string,
  workDir: string,
  perClass: { train?: number; test?: number },
  note?: (msg: string) => void,
): Promise<{ archivePath: string; bytes: number; trainImages: number; testImages: number }> {
  const trainImages = await writeSplit(dataDir, workDir, "train", perClass.train, note);
  const testImages = await writeSplit(dataDir, workDir, "test", perClass.test, note);
  const archivePath = path.join(workDir, "fashion-mnist.tar.gz");
  await tar.c({ gzip: true, cwd: workDir, file: archivePath, portable: true }, ["train", "test"]);
  return { archivePath, bytes: (await stat(archivePath)).size, trainImages, testImages };
}
