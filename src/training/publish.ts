import type { ModelManifest } from "../models/schemas.js";
import { calibrate, evaluateSplit, fitOpenSet, type SplitMetrics } from "./evaluate.js";
import type { FeatureSet } from "./features.js";
import { HeadTrainer } from "./head.js";
import { type ExtractContext, extractRows, type JobFeatures } from "./job-features.js";
import { encodeClassGaussians } from "./open-set-file.js";
import type { JobSplit } from "./split.js";
import { standardizeInPlace } from "./standardize.js";
import type { HeadConfig } from "./sweep.js";
import type { Winner } from "./train-job.js";

/** What {@link publishModel} needs besides the extraction context. */
export interface PublishInputs extends ExtractContext {
  jobId: string;
  modelId: string;
  split: JobSplit;
  features: JobFeatures;
  config: HeadConfig;
  winner: Winner;
}

/**
 * Turns the winning head into a model: temperature fitted on validation, the unknown threshold from the
 * validation scores, then the one evaluation of the `test` split (validation, or train, when there is
 * none), and the model folder published once. Returns undefined when the job was cancelled meanwhile.
 */
export async function publishModel(o: PublishInputs) {
  const head = await HeadTrainer.create({
    inputDim: o.backbone.manifest.featureDim,
    classes: o.classes.length,
    hiddenUnits: o.config.hiddenUnits,
    dropout: o.config.dropout,
    learningRate: o.config.learningRate,
    seed: o.params.seed,
  });
  try {
    head.setWeights(o.winner.best.weights);
    o.progress.report("evaluating", 0, { step: 0, steps: 1 }, true);
    const calibration = calibrate(head, o.features.val);
    const t = calibration?.temperature ?? 1;
    const openSet = fitOpenSet(o.features.valScores);
    const val = o.features.val;
    const evalOn = await evaluationSet(o);
    if (!evalOn) return undefined;
    const evaluation = evaluateSplit(head, evalOn.rows, t, o.classes, {
      list: evalOn.items,
      rows: evalOn.rows.rows,
    });
    const validation = val
      ? evaluateSplit(head, val, t, o.classes, { list: o.split.val, rows: val.rows }).metrics
      : undefined;
    const tenant = (await o.ctx.jobs.get(o.jobId))?.tenant;
    const manifest: ModelManifest = {
      id: o.modelId,
      ...(tenant ? { tenant } : {}),
      jobId: o.jobId,
      datasetId: o.params.datasetId,
      backbone: o.params.backbone,
      backboneHash: o.backbone.hash,
      classes: o.classes,
      createdAt: new Date().toISOString(),
      preprocessing: o.backbone.manifest.preprocessing,
      featureDim: o.backbone.manifest.featureDim,
      params: {
        ...o.params,
        ...o.config,
        epochsRun: o.winner.history.length,
        bestEpoch: o.winner.best.epoch,
      },
      metrics: { split: evalOn.split, ...evaluation.metrics },
      ...(validation ? { validationMetrics: summary(validation) } : {}),
      calibration: calibration ?? null,
      openSet: openSet ?? null,
    };
    const created = await o.ctx.models.publish(manifest, {
      writeHead: (dir) => head.saveModel(dir, { ...o.features.stats, temperature: t }),
      openSet: openSet && o.features.gaussians ? encodeClassGaussians(o.features.gaussians) : undefined,
      misclassified: evaluation.misclassified,
    });
    return { created, accuracy: evaluation.metrics.accuracy, split: evalOn.split };
  } finally {
    head.dispose();
  }
}

async function evaluationSet(
  o: PublishInputs,
): Promise<
  { split: "test" | "validation" | "train"; rows: FeatureSet; items: JobSplit["train"] } | undefined
> {
  if (o.split.test.length > 0) {
    const n = o.split.test.length;
    const rows = await extractRows(o, o.split.test, 0, (done, rate) =>
      o.progress.report("evaluating", done / n, { step: done, steps: n, imagesPerSec: rate }),
    );
    if (rows.stopped) return undefined;
    for (const f of rows.failed) o.features.warnings.push(`skipped ${f.path}: ${f.reason}`);
    standardizeInPlace(rows.x, o.features.stats);
    if (rows.n > 0) return { split: "test", rows, items: o.split.test };
  }
  if (o.features.val) return { split: "validation", rows: o.features.val, items: o.split.val };
  const rows = await extractRows(o, o.split.train, 0);
  standardizeInPlace(rows.x, o.features.stats);
  return { split: "train", rows, items: o.split.train };
}

function summary(m: SplitMetrics) {
  return { accuracy: m.accuracy, loss: m.loss, macroF1: m.macroF1, ece: m.ece };
}
