import type { LoadedBackbone } from "../backbones/registry.js";
import type { Context } from "../context.js";
import type { DatasetItem } from "../datasets/schemas.js";
import type { TrainParams } from "../jobs/schemas.js";
import { extractionRate } from "../ops/metrics.js";
import { type FeatureSet, featuresFor } from "./features.js";
import type { LabelledRows } from "./fit-head.js";
import { type ClassGaussians, fitClassGaussians, mahalanobisScores } from "./open-set.js";
import type { JobProgress } from "./progress.js";
import type { JobSplit } from "./split.js";
import { type FeatureStats, featureStats, standardizeInPlace } from "./standardize.js";

/** The features a training job trains, validates and fits its unknown rule on. */
export interface JobFeatures {
  stats: FeatureStats;
  /** z-scored training rows of an epoch (another augmented view each epoch with `augment`). */
  trainRows: (epoch: number) => Promise<LabelledRows>;
  /** Labels of the first training view, for class weights. */
  trainLabels: Int32Array;
  /** z-scored validation rows (with their item indices), when there are any. */
  val?: FeatureSet;
  /** Class statistics of the raw training features, and the raw validation scores under them. */
  gaussians?: ClassGaussians;
  valScores?: Float32Array;
  warnings: string[];
  cancelled: boolean;
}

/** Extraction context: the job's backbone and dataset, progress and cancellation. */
export interface ExtractContext {
  ctx: Context;
  params: TrainParams;
  classes: string[];
  backbone: LoadedBackbone;
  progress: JobProgress;
  shouldStop: () => boolean;
}

/** The augmented view an epoch trains on (0, the evaluation transform, without augmentation). */
export function viewOf(params: TrainParams, epoch: number): number {
  return params.augment ? ((epoch - 1) % params.augmentViews) + 1 : 0;
}

/**
 * Extracts (or reads from the cache) the training and validation features, fits the class statistics of
 * the unknown rule on the raw training features, scores validation under them, then z-scores both with
 * the training statistics (in place).
 */
export async function loadJobFeatures(e: ExtractContext, split: JobSplit): Promise<JobFeatures> {
  const total = split.train.length + split.val.length;
  const dim = e.backbone.manifest.featureDim;
  const warnings: string[] = [];
  const extract = async (items: DatasetItem[], view: number, before: number) => {
    const set = await extractRows(e, items, view, (done, rate) =>
      e.progress.report("extracting", (before + done) / total, {
        step: before + done,
        steps: total,
        imagesPerSec: rate,
      }),
    );
    for (const f of set.failed) warnings.push(`skipped ${f.path}: ${f.reason}`);
    return set;
  };
  const first = await extract(split.train, viewOf(e.params, 1), 0);
  const valSet = split.val.length > 0 ? await extract(split.val, 0, split.train.length) : undefined;
  const cancelled = first.stopped || (valSet?.stopped ?? false) || e.shouldStop();
  let gaussians: ClassGaussians | undefined;
  try {
    gaussians = fitClassGaussians(first.x, first.y, dim, e.classes.length, { kind: "diag" });
  } catch (err) {
    warnings.push(`no unknown rule: ${(err as Error).message}`);
  }
  const valScores =
    gaussians && valSet && valSet.n > 0 ? mahalanobisScores(gaussians, valSet.x, valSet.n) : undefined;
  const stats = featureStats(first.x, dim);
  standardizeInPlace(first.x, stats);
  if (valSet) standardizeInPlace(valSet.x, stats);
  let current = { view: viewOf(e.params, 1), rows: first as LabelledRows };
  const trainRows = async (epoch: number) => {
    const view = viewOf(e.params, epoch);
    if (view !== current.view) {
      const set = await extract(split.train, view, 0);
      standardizeInPlace(set.x, stats);
      current = { view, rows: set };
    }
    return current.rows;
  };
  return {
    stats,
    trainRows,
    trainLabels: first.y,
    val: valSet && valSet.n > 0 ? valSet : undefined,
    gaussians,
    valScores,
    warnings,
    cancelled,
  };
}

/** Features of some items, rows of those that decoded; progress reports `(done, imagesPerSec)`. */
export function extractRows(
  e: ExtractContext,
  items: DatasetItem[],
  view: number,
  onProgress?: (done: number, imagesPerSec: number) => void,
): Promise<FeatureSet> {
  return featuresFor(e.ctx, e.params.datasetId, items, e.classes, e.backbone, {
    view,
    seed: e.params.seed,
    onProgress: (p) => {
      if (p.imagesPerSec > 0) extractionRate.set(p.imagesPerSec);
      onProgress?.(p.done, p.imagesPerSec);
    },
    shouldStop: e.shouldStop,
  });
}
