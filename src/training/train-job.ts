import path from "node:path";
import { UnrecoverableError } from "bullmq";
import type { LoadedBackbone } from "../backbones/registry.js";
import type { Context } from "../context.js";
import { AppError } from "../errors.js";
import type { EpochRecord, Progress, TrainParams } from "../jobs/schemas.js";
import { Rng } from "../lib/rng.js";
import type { Logger } from "../logger.js";
import type { ModelManifest } from "../models/schemas.js";
import { modelIdForJob } from "../models/store.js";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.js";
import { type FeatureSet, featuresFor } from "./features.js";
import { HeadTrainer } from "./head.js";
import { classificationReport } from "./metrics.js";
import { CancelWatch, ProgressReporter } from "./progress.js";
import { splitForJob } from "./split.js";

/** Thrown when the worker is shutting down: the epoch is checkpointed and the job goes back to the queue. */
export class HandBackError extends Error {
  constructor() {
    super("worker shutting down: job handed back after its checkpoint");
  }
}

/** What a training run needs from its worker. */
export interface TrainRunOptions {
  ctx: Context;
  jobId: string;
  log: Logger;
  /** True once the worker was asked to stop (SIGTERM): finish the epoch, checkpoint, hand back. */
  draining: () => boolean;
}

/** Loads what a job refers to, failing for good (UnrecoverableError) when it is gone. */
export async function loadJobInputs(ctx: Context, jobId: string, datasetId: string, backboneId: string) {
  const dataset = await ctx.datasets.get(datasetId).catch(() => {
    throw new UnrecoverableError(`DATASET_DELETED: dataset '${datasetId}' no longer exists`);
  });
  const items = await ctx.datasets.items(datasetId);
  let backbone: LoadedBackbone;
  try {
    backbone = await ctx.registry.load(backboneId);
  } catch (err) {
    if (err instanceof AppError && err.statusCode < 500)
      throw new UnrecoverableError(`UNKNOWN_BACKBONE: ${err.message}`);
    throw err;
  }
  ctx.logger.debug({ jobId, backbone: backboneId, hash: backbone.hash }, "job inputs loaded");
  return { dataset, items, backbone };
}

/**
 * Runs (or resumes) a training job: features from the cache or the backbone, the head trained epoch by
 * epoch with a checkpoint after each, early stopping, cancellation within one batch, then the model
 * folder written once. Progress and history go to the job record.
 */
export async function runTrainJob({ ctx, jobId, log, draining }: TrainRunOptions): Promise<void> {
  const record = await ctx.jobs.get(jobId);
  if (!record) throw new UnrecoverableError(`JOB_NOT_FOUND: no record for job '${jobId}'`);
  if (["completed", "failed", "cancelled"].includes(record.state)) return;
  const params = record.params as TrainParams;
  const started = Date.now();
  await ctx.jobs.update(jobId, {
    state: "running",
    startedAt: record.startedAt ?? new Date(started).toISOString(),
    attempts: (record.attempts ?? 0) + 1,
  });
  const { dataset, items, backbone } = await loadJobInputs(ctx, jobId, params.datasetId, params.backbone);
  const classes = dataset.classes;
  const split = splitForJob(items, params.validationSplit, params.seed);
  const ckDir = path.join(ctx.paths.checkpoints, jobId);
  const ck = await loadCheckpoint(ckDir);
  const hp = {
    inputDim: backbone.manifest.featureDim,
    classes: classes.length,
    hiddenUnits: params.hiddenUnits,
    dropout: params.dropout,
    learningRate: params.learningRate,
    seed: params.seed,
  };
  const head = ck ? await HeadTrainer.fromState(hp, ck.head) : await HeadTrainer.create(hp);
  const rng = new Rng(ck ? ck.rngState : params.seed);
  const history = (ck?.history ?? []) as EpochRecord[];
  if (ck) log.info({ epoch: ck.epoch }, "resuming from checkpoint");
  const reporter = new ProgressReporter(async (progress) => {
    await ctx.jobs.update(jobId, { progress });
  });
  const cancel = new CancelWatch(() => ctx.jobs.cancelRequested(jobId));
  const warnings = new Set<string>(record.warnings ?? []);
  const E = params.epochs;
  const report = (p: Omit<Progress, "percent" | "epochs">, epochFraction: number, force = false) =>
    reporter.report(
      { ...p, epochs: E, percent: Math.min(99.9, ((p.epoch! - 1 + epochFraction) / E) * 100) },
      force,
    );

  try {
    let train: FeatureSet | undefined;
    let trainView = -1;
    let val: FeatureSet | undefined;
    let secsPerStep = 0;
    // A checkpoint written by an epoch that stopped training early ends the training on resume too.
    const stoppedEarly = ck !== undefined && shouldStopEarly(history, params.earlyStopping);
    for (let epoch = (ck?.epoch ?? 0) + 1; epoch <= E && !stoppedEarly; epoch++) {
      const t0 = performance.now();
      const view = params.augment ? ((epoch - 1) % params.augmentViews) + 1 : 0;
      const needTrain = view !== trainView;
      const needVal = val === undefined && split.val.length > 0;
      const toExtract = (needTrain ? split.train.length : 0) + (needVal ? split.val.length : 0);
      let extractedBefore = 0;
      const extractWeight = toExtract > 0 ? 0.9 : 0;
      const onProgress = (p: { done: number; imagesPerSec: number }) => {
        const done = extractedBefore + p.done;
        const eta = p.imagesPerSec > 0 ? (toExtract - done) / p.imagesPerSec : null;
        report(
          {
            phase: "extracting",
            epoch,
            step: done,
            steps: toExtract,
            imagesPerSec: p.imagesPerSec,
            etaSeconds: eta,
          },
          extractWeight * (done / toExtract),
        );
      };
      const opts = { seed: params.seed, onProgress, shouldStop: () => cancel.cancelled };
      if (needTrain) {
        train = await featuresFor(ctx, params.datasetId, split.train, classes, backbone, { ...opts, view });
        trainView = view;
        extractedBefore = split.train.length;
        for (const f of train.failed) warnings.add(`skipped ${f.path}: ${f.reason}`);
      }
      if (needVal) {
        val = await featuresFor(ctx, params.datasetId, split.val, classes, backbone, { ...opts, view: 0 });
        for (const f of val.failed) warnings.add(`skipped ${f.path}: ${f.reason}`);
      }
      if (cancel.cancelled || train!.stopped) return await markCancelled(ctx, jobId, reporter, log);
      if (train!.n === 0)
        throw new UnrecoverableError("NO_USABLE_IMAGES: no training image could be decoded");
      const tTrain = performance.now();
      const steps = Math.ceil(train!.n / params.batchSize);
      const res = await head.trainEpoch(train!.x, train!.y, {
        batchSize: params.batchSize,
        rng,
        shouldStop: () => cancel.cancelled,
        onBatch: async (step) => {
          const elapsed = (performance.now() - tTrain) / 1000;
          secsPerStep = elapsed / step;
          const eta = secsPerStep * (steps - step + (E - epoch) * steps);
          report(
            {
              phase: "training",
              epoch,
              step,
              steps,
              imagesPerSec: (step * params.batchSize) / elapsed,
              etaSeconds: eta,
            },
            extractWeight + (1 - extractWeight) * (step / steps),
          );
          if (step % 8 === 0) await new Promise((r) => setImmediate(r));
        },
      });
      if (res.stopped) return await markCancelled(ctx, jobId, reporter, log);
      const ev = val && val.n > 0 ? head.evaluate(val.x, val.y) : undefined;
      const entry: EpochRecord = {
        epoch,
        loss: round(res.loss),
        accuracy: round(res.accuracy),
        ...(ev ? { valLoss: round(ev.loss), valAccuracy: round(ev.accuracy) } : {}),
        seconds: round((performance.now() - t0) / 1000, 3),
      };
      history.push(entry);
      await saveCheckpoint(ckDir, { epoch, head: await head.getState(), history, rngState: rng.state });
      await reporter.flush();
      await ctx.jobs.update(jobId, { history, warnings: [...warnings].slice(0, 100) });
      log.info(entry, "epoch done");
      if (shouldStopEarly(history, params.earlyStopping)) {
        log.info({ epoch }, "early stopping");
        break;
      }
      if (draining() && epoch < E) throw new HandBackError();
    }

    report({ phase: "evaluating", epoch: history.length || 1, step: 0, steps: 1 }, 1, true);
    // Resumed from the final checkpoint (the worker died while evaluating or publishing): no epoch ran,
    // so the features to evaluate on are not loaded yet.
    const evalOpts = { seed: params.seed, view: 0 };
    if (val === undefined && split.val.length > 0)
      val = await featuresFor(ctx, params.datasetId, split.val, classes, backbone, evalOpts);
    if (!(val && val.n > 0) && train === undefined)
      train = await featuresFor(ctx, params.datasetId, split.train, classes, backbone, evalOpts);
    const evalSet = val && val.n > 0 ? val : train!;
    const ev = head.evaluate(evalSet.x, evalSet.y);
    const rep = classificationReport(evalSet.y, ev.predicted, classes);
    const modelId = modelIdForJob(jobId);
    const manifest: ModelManifest = {
      id: modelId,
      jobId,
      datasetId: params.datasetId,
      backbone: params.backbone,
      backboneHash: backbone.hash,
      classes,
      createdAt: new Date().toISOString(),
      preprocessing: backbone.manifest.preprocessing,
      featureDim: backbone.manifest.featureDim,
      params: { ...params, epochsRun: history.length },
      metrics: { ...rep, loss: round(ev.loss), evaluatedOn: val && val.n > 0 ? split.valSource : "train" },
    };
    const created = await ctx.models.publish(manifest, (dir) => head.saveModel(dir));
    await reporter.flush();
    await ctx.jobs.update(jobId, {
      state: "completed",
      finishedAt: new Date().toISOString(),
      modelId,
      history,
      progress: {
        phase: "evaluating",
        epoch: history.length,
        epochs: E,
        step: 1,
        steps: 1,
        percent: 100,
        etaSeconds: 0,
      },
    });
    log.info(
      { modelId, created, accuracy: rep.accuracy, seconds: (Date.now() - started) / 1000 },
      "training job completed",
    );
  } finally {
    cancel.stop();
    head.dispose();
  }
}

async function markCancelled(
  ctx: Context,
  jobId: string,
  reporter: ProgressReporter,
  log: Logger,
): Promise<void> {
  await reporter.flush();
  await ctx.jobs.update(jobId, { state: "cancelled", finishedAt: new Date().toISOString() });
  log.info("job cancelled; checkpoints kept");
}

function shouldStopEarly(history: EpochRecord[], es: TrainParams["earlyStopping"]): boolean {
  if (!es || history.length <= es.patience) return false;
  const losses = history.map((h) => h.valLoss ?? h.loss);
  const bestBefore = Math.min(...losses.slice(0, losses.length - es.patience));
  return losses.slice(-es.patience).every((l) => l > bestBefore - es.minDelta);
}

function round(v: number, digits = 5): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
