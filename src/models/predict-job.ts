import { UnrecoverableError } from "bullmq";
import type { Context } from "../context.js";
import type { PredictJobParams } from "../jobs/schemas.js";
import type { Logger } from "../logger.js";
import { featuresFor } from "../training/features.js";
import { HeadTrainer } from "../training/head.js";
import { CancelWatch, ProgressReporter } from "../training/progress.js";
import { loadJobInputs } from "../training/train-job.js";

/**
 * Batch inference over every image of a dataset (all splits) with a trained model. The job's `result`
 * holds one prediction per image and, where the dataset's labels are among the model's classes, accuracy.
 */
export async function runPredictJob({
  ctx,
  jobId,
  log,
}: {
  ctx: Context;
  jobId: string;
  log: Logger;
}): Promise<void> {
  const record = await ctx.jobs.get(jobId);
  if (!record) throw new UnrecoverableError(`JOB_NOT_FOUND: no record for job '${jobId}'`);
  if (["completed", "failed", "cancelled"].includes(record.state)) return;
  const params = record.params as PredictJobParams;
  await ctx.jobs.update(jobId, {
    state: "running",
    startedAt: record.startedAt ?? new Date().toISOString(),
    attempts: (record.attempts ?? 0) + 1,
  });
  const model = await ctx.models.get(params.modelId).catch(() => {
    throw new UnrecoverableError(`MODEL_DELETED: model '${params.modelId}' no longer exists`);
  });
  const { items, backbone } = await loadJobInputs(ctx, jobId, params.datasetId, model.backbone);
  const warnings: string[] = [];
  if (backbone.hash !== model.backboneHash) {
    warnings.push(`backbone '${model.backbone}' changed since the model was trained; predictions may be off`);
  }
  const all = [...items.train, ...(items.val ?? []), ...(items.test ?? [])];
  const head = await HeadTrainer.loadForInference(ctx.models.dir(model.id));
  const reporter = new ProgressReporter((progress) =>
    ctx.jobs.update(jobId, { progress }).then(() => undefined),
  );
  const cancel = new CancelWatch(() => ctx.jobs.cancelRequested(jobId));
  try {
    const feats = await featuresFor(ctx, params.datasetId, all, model.classes, backbone, {
      view: 0,
      seed: 0,
      shouldStop: () => cancel.cancelled,
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
    if (feats.stopped) {
      await ctx.jobs.update(jobId, { state: "cancelled", finishedAt: new Date().toISOString() });
      return;
    }
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
    const result = {
      accuracy: labelled > 0 ? correct / labelled : null,
      items: out,
      failed: feats.failed,
    };
    await ctx.jobs.update(jobId, {
      state: "completed",
      finishedAt: new Date().toISOString(),
      result,
      warnings,
      progress: { phase: "predicting", step: all.length, steps: all.length, percent: 100, etaSeconds: 0 },
    });
    log.info({ images: out.length, accuracy: result.accuracy }, "predict job completed");
  } finally {
    cancel.stop();
    head.dispose();
  }
}
