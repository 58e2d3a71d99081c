import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import sharp from "sharp";
import { readIdxImages, readIdxLabels } from "../../scripts/lib/idx.js";
import type { BackboneRegistry, LoadedBackbone } from "../../src/backbones/registry.js";
import { loadConfig } from "../../src/config.js";
import { backboneRegistry } from "../../src/context.js";

/** Where Debian's `dataset-fashion-mnist` (installed by .ci/run) puts the IDX files. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/**
 * The first `counts[label]` images of each wanted label of a Fashion-MNIST split, as 28x28 grayscale PNGs,
 * in file order, with their labels.
 */
export async function fashionMnistPngs(
  split: "train" | "t10k",
  counts: Record<number, number>,
): Promise<{ png: Buffer; label: number }[]> {
  const images = await readIdxImages(path.join(FASHION_MNIST_DIR, `${split}-images-idx3-ubyte.gz`));
  const labels = await readIdxLabels(path.join(FASHION_MNIST_DIR, `${split}-labels-idx1-ubyte.gz`));
  const taken: Record<number, number> = {};
  const size = images.rows * images.cols;
  const out: Promise<{ png: Buffer; label: number }>[] = [];
  for (let i = 0; i < images.count; i++) {
    const label = labels[i];
    if (!(label in counts) || (taken[label] ?? 0) >= counts[label]) continue;
    taken[label] = (taken[label] ?? 0) + 1;
    const raw = Buffer.from(images.pixels.subarray(i * size, (i + 1) * size));
    out.push(
      sharp(raw, { raw: { width: images.cols, height: images.rows, channels: 1 } })
        .png()
        .toBuffer()
        .then((png) => ({ png, label })),
    );
  }
  return Promise.all(out);
}

/**
 * The built-in backbone for the tests of one file: a registry in a temporary folder, made before the tests
 * and closed (the folder removed) after them.
 */
export function builtinBackboneForTests(prefix: string): { load(): Promise<LoadedBackbone> } {
  let dir: string;
  let registry: BackboneRegistry;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    registry = backboneRegistry(loadConfig({ DATA_DIR: dir }), dir, () => undefined);
  });
  after(async () => {
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { load: () => registry.load("mobilenet_v2") };
}
