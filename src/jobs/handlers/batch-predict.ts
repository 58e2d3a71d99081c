import type { ModelManifest } from "../../models/schemas.js";
import type { JobPayload } from "../../queues.js";
import { featuresFor } from "../../training/features.js";
import { type HeadPredictor, HeadTrainer } from "../../training/head.js";
import { loadJobInputs } from "../../training/job-inputs.js";
import { CancelWatch, ProgressReporter } from "../../training/progress.js";
import type { JobOutcome, JobRun, PredictErrorCode } from "../contract.js";
import { JobFailure } from "../job-error.js";
import { type JobResult, jobParams } from "../record-sync.js";
import type { PredictJobParams } from "../schemas.js";

type Item = { path: string; label: string };

/**
 * Batch inference over every image of a dataset (all splits) with a trained model (job name `predict`).
 * The job's `result` holds one prediction per image and, where the dataset's labels are among the model's
 * classes, accuracy. Fails with `MODEL_DELETED`, `DATASET_DELETED` or `UNKNOWN_BACKBONE`.
 */
export async function runBatchPredictJob({
  ctx,
  payload,
  log,
  lease,
}: JobRun<JobPayload>): Promise<JobOutcome<JobResult>> {
  const { jobId } = payload;
  const params = await jobParams<PredictJobParams>(ctx.jobs, jobId);
  const model = await ctx.models.get(params.modelId).catch(() => {
    throw new JobFailure<PredictErrorCode>("MODEL_DELETED", `model '${params.modelId}' no longer exists`);
  });
  const { items, backbone } = await loadJobInputs(ctx, jobId, params.datasetId, model.backbone);
  const warnings: string[] = [];
  if (backbone.hash !== model.backboneHash) {
    warnings.push(`backbone '${model.backbone}' changed since the model was trained; predictions may be off`);
  }
  const all = [...items.train, ...(items.val ?? []), ...(items.test ?? [])];
  const head = await HeadTrainer.loadForInference(ctx.models.dir(model.id));
  const reporter = new ProgressReporter(async (progress) => {
    if (!lease.lost) await ctx.jobs.update(jobId, { progress });
  });
  const cancel = new CancelWatch(() => ctx.jobs.cancelRequested(jobId));
  try {
    const feats = await featuresFor(ctx, params.datasetId, all, model.classes, backbone, {
      view: 0,
      seed: 0,
      shouldStop: () => cancel.cancelled || lease.lost,
      onProgress: (p) =>
        reporter.report({
          phase: "predicting",
          step: p.done,
          steps: p.total,
          percent: Math.min(99.9, (p.done / p.total) * 100),
          imagesPerSec: p.imagesPerSec,
          etaSeconds: p.imagesPerSec > 0 ? (p.total - p.done) / p.imagesPerSec : null,
        }),
    });
    await reporter.flush();
    if (feats.stopped) return { state: "cancelled" };
    const result = predictAll(head, model, all, feats);
    log.info({ images: result.items.length, accuracy: result.accuracy }, "predict job completed");
    return {
      state: "completed",
      result: {
        result,
        warnings,
        progress: { phase: "predicting", step: all.length, steps: all.length, percent: 100, etaSeconds: 0 },
      },
    };
  } finally {
    cancel.stop();
    await reporter.flush();
    head.dispose();
  }
}

type Features = Awaited<ReturnType<typeof featuresFor>>;

/** The top class of every image with features, and accuracy over the images whose label the model knows. */
function predictAll(head: HeadPredictor, model: ModelManifest, all: Item[], feats: Features) {
  const probs = head.predictProba(feats.x, feats.n);
  const k = model.classes.length;
  let labelled = 0;
  let correct = 0;
  const out = feats.rows.map((r, row) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[row * k + c] > probs[row * k + best]) best = c;
    const item = all[r];
    if (feats.y[row] >= 0) {
      labelled++;
      if (feats.y[row] === best) correct++;
    }
    return {
      path: item.path,
      label: model.classes[best],
      probability: probs[row * k + best],
      trueLabel: item.label,
    };
  });
  return { accuracy: labelled > 0 ? correct / labelled : null, items: out, failed: feats.failed };
}
