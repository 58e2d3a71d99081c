import path from "node:path";
import { tenantCacheDir } from "../auth/tenant.js";
import { type ExtractProgress, extractFeatures } from "../backbones/extractor.js";
import { FeatureCache } from "../backbones/feature-cache.js";
import type { LoadedBackbone } from "../backbones/registry.js";
import type { Context } from "../context.js";
import { PackReader } from "../datasets/pack.js";
import type { DatasetItem } from "../datasets/schemas.js";
import { JobFailure } from "../jobs/job-error.js";

/** Features of a list of items: rows of the items that decoded, their labels, and what failed. */
export interface FeatureSet {
  x: Float32Array;
  y: Int32Array;
  /** Index into the item list of each row. */
  rows: number[];
  n: number;
  failed: { path: string; reason: string }[];
  computed: number;
  stopped: boolean;
}

/** The dataset's pack, or undefined when it is gone (each image then fails as unreadable). */
async function openPack(file: string): Promise<PackReader | undefined> {
  return PackReader.open(file).catch(() => undefined);
}

/** Options of {@link featuresFor}. */
export interface FeatureOptions {
  view: number;
  seed: number;
  onProgress?: (p: ExtractProgress) => void;
  shouldStop?: () => boolean;
}

/**
 * Extracts (or reads from the cache) the features of dataset items with a backbone, and packs the rows
 * of the items that decoded, with their class indices. Images that fail because their dataset was deleted
 * meanwhile fail the job as `DATASET_DELETED` (a final {@link JobFailure}).
 */
export async function featuresFor(
  ctx: Context,
  datasetId: string,
  items: DatasetItem[],
  classes: string[],
  backbone: LoadedBackbone,
  options: FeatureOptions,
): Promise<FeatureSet> {
  const dir = ctx.datasets.filesDir(datasetId);
  const tenant = (await ctx.datasets.get(datasetId).catch(() => undefined))?.tenant;
  const pack = items.some((i) => i.at) ? await openPack(ctx.datasets.packPath(datasetId)) : undefined;
  const out = await extractFeatures(
    items.map(({ at, path: rel }) => (at && pack ? () => pack.read(at) : path.join(dir, rel))),
    backbone,
    {
      cache: new FeatureCache(tenantCacheDir(ctx.paths.features, tenant)),
      view: options.view,
      augmentSeed: options.seed,
      maxPixels: ctx.config.MAX_IMAGE_PIXELS,
      onProgress: options.onProgress,
      shouldStop: options.shouldStop,
    },
  ).finally(() => pack?.close());
  if (out.errors.length > 0 && !(await ctx.datasets.get(datasetId).then(Boolean, () => false))) {
    throw new JobFailure(
      "DATASET_DELETED",
      `dataset '${datasetId}' was deleted while the job read its images`,
    );
  }
  const dim = backbone.manifest.featureDim;
  const rows: number[] = [];
  for (let i = 0; i < items.length; i++) if (out.ok[i]) rows.push(i);
  const index = new Map(classes.map((c, i) => [c, i]));
  const x = rows.length === items.length ? out.features : new Float32Array(rows.length * dim);
  const y = new Int32Array(rows.length);
  rows.forEach((r, k) => {
    if (x !== out.features) x.set(out.features.subarray(r * dim, (r + 1) * dim), k * dim);
    y[k] = index.get(items[r].label) ?? -1;
  });
  return {
    x,
    y,
    rows,
    n: rows.length,
    failed: out.errors.map((e) => ({ path: items[e.index].path, reason: e.reason })),
    computed: out.computed,
    stopped: out.stopped,
  };
}
