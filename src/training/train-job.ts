import path from "node:path";
import type { LoadedBackbone } from "../backbones/registry.js";
import type { Context } from "../context.js";
import type { JobOutcome, TrainErrorCode } from "../jobs/contract.js";
import { HandBackError, JobFailure } from "../jobs/job-error.js";
import type { Lease } from "../jobs/lease.js";
import { type JobResult, jobParams } from "../jobs/record-sync.js";
import type { EpochRecord, LeaderboardEntry, TrainParams } from "../jobs/schemas.js";
import type { Logger } from "../logger.js";
import { modelIdForJob } from "../models/store.js";
import { epochDuration } from "../ops/metrics.js";
import { type Checkpoint, loadCheckpoint, saveCheckpoint } from "./checkpoint.js";
import { resolveClassWeights } from "./class-weights.js";
import { type BestEpoch, fitHead, type HeadProgress } from "./fit-head.js";
import { type ExtractContext, type JobFeatures, loadJobFeatures } from "./job-features.js";
import { loadJobInputs } from "./job-inputs.js";
import { CancelWatch, JobProgress, ProgressReporter } from "./progress.js";
import { publishModel } from "./publish.js";
import { type JobSplit, splitForJob } from "./split.js";
import { type HeadConfig, sweepConfigs, sweptParams } from "./sweep.js";

/** What a training run needs from its worker. */
export interface TrainRunOptions {
  ctx: Context;
  jobId: string;
  log: Logger;
  /** True once the worker was asked to stop (SIGTERM): finish the epoch, checkpoint, hand back. */
  draining: () => boolean;
  /** The attempt's ownership of the job: every write checks it; the loops stop once it is lost. */
  lease: Lease;
}

/** The best head of the configurations trained so far. */
export interface Winner {
  config: number;
  history: EpochRecord[];
  best: BestEpoch;
}

/** Sweep state kept in each checkpoint's `extra`, beside the head being trained. */
interface SweepState {
  config: number;
  finished: boolean;
  best: Omit<BestEpoch, "weights">;
  leaderboard: LeaderboardEntry[];
  winner?: Omit<Winner, "best"> & { best: Omit<BestEpoch, "weights"> };
}

interface Job {
  ctx: Context;
  jobId: string;
  log: Logger;
  params: TrainParams;
  classes: string[];
  backbone: LoadedBackbone;
  split: JobSplit;
  configs: HeadConfig[];
  ckDir: string;
  ck?: Checkpoint;
  progress: JobProgress;
  reporter: ProgressReporter;
  lease: Lease;
  cancel: CancelWatch;
  draining: () => boolean;
}

/**
 * Runs (or resumes) a training job: features from the cache or the backbone, one head per configuration
 * (a sweep, or the job's own parameters) trained epoch by epoch with a checkpoint after each, the best on
 * validation kept; then calibration, the unknown rule, one evaluation of the test split, and the model
 * folder written once. Returns what the job record gains (the model id, the history...), or `cancelled`;
 * the job lifecycle writes it. Throws {@link HandBackError} when the worker drains between epochs.
 */
export async function runTrainJob({
  ctx,
  jobId,
  log,
  draining,
  lease,
}: TrainRunOptions): Promise<JobOutcome<JobResult>> {
  const job = await setup(ctx, jobId, log, draining, lease);
  try {
    const features = await loadJobFeatures(extractContext(job), job.split);
    if (features.cancelled) return await cancelled(job);
    if (features.trainLabels.length === 0)
      throw new JobFailure<TrainErrorCode>("NO_USABLE_IMAGES", "no training image could be decoded");
    const outcome = await trainHeads(job, features);
    if (!outcome) return await cancelled(job);
    return await publish(job, features, outcome);
  } finally {
    job.cancel.stop();
    await job.reporter.flush();
  }
}

async function setup(
  ctx: Context,
  jobId: string,
  log: Logger,
  draining: () => boolean,
  lease: Lease,
): Promise<Job> {
  const params = await jobParams<TrainParams>(ctx.jobs, jobId);
  const { dataset, items, backbone } = await loadJobInputs(ctx, jobId, params.datasetId, params.backbone);
  const ckDir = path.join(ctx.paths.checkpoints, jobId);
  const ck = await loadCheckpoint(ckDir);
  if (ck)
    log.info(
      { epoch: ck.epoch, config: (ck.extra as SweepState | undefined)?.config },
      "resuming from checkpoint",
    );
  const reporter = new ProgressReporter(async (progress) => {
    if (!lease.lost) await ctx.jobs.update(jobId, { progress });
  });
  return {
    ctx,
    jobId,
    log,
    params,
    classes: dataset.classes,
    backbone,
    split: splitForJob(items, params.validationSplit, params.seed),
    configs: sweepConfigs(params),
    ckDir,
    ck,
    progress: new JobProgress(reporter),
    reporter,
    cancel: new CancelWatch(() => ctx.jobs.cancelRequested(jobId)),
    draining,
    lease,
  };
}

function extractContext(job: Job): ExtractContext {
  return {
    ctx: job.ctx,
    params: job.params,
    classes: job.classes,
    backbone: job.backbone,
    progress: job.progress,
    shouldStop: () => stopping(job),
  };
}

/** Trains every configuration not done yet; returns the winner and the leaderboard, or undefined when cancelled. */
async function trainHeads(
  job: Job,
  features: JobFeatures,
): Promise<{ winner: Winner; leaderboard: LeaderboardEntry[] } | undefined> {
  const { configs, params, ctx, jobId } = job;
  const state = job.ck?.extra as SweepState | undefined;
  let leaderboard = state?.leaderboard ?? [];
  let winner: Winner | undefined =
    state?.winner && job.ck?.sets?.winner
      ? { ...state.winner, best: { ...state.winner.best, weights: job.ck.sets.winner } }
      : undefined;
  const start = state ? state.config + (state.finished ? 1 : 0) : 0;
  const classWeights = resolveClassWeights(params.classWeights, job.classes, features.trainLabels);
  const totalEpochs = configs.reduce((n, c) => n + c.epochs, 0);
  for (let i = start; i < configs.length; i++) {
    const config = configs[i];
    const resume = i === state?.config && job.ck ? resumeOf(job.ck, state) : undefined;
    const epochsBefore = configs.slice(0, i).reduce((n, c) => n + c.epochs, 0);
    const result = await fitHead({
      config,
      params,
      inputDim: job.backbone.manifest.featureDim,
      classes: job.classes.length,
      classWeights,
      trainRows: features.trainRows,
      val: features.val,
      resume,
      shouldStop: () => stopping(job),
      onBatch: async (epoch, step, steps) => {
        job.progress.report("training", (epochsBefore + epoch - 1 + step / steps) / totalEpochs, {
          epoch,
          epochs: config.epochs,
          step,
          steps,
        });
        if (step % 8 === 0) await new Promise((r) => setImmediate(r));
      },
      onEpoch: async (p) => {
        const extra: SweepState = { config: i, finished: p.finished, best: omitWeights(p.best), leaderboard };
        if (p.finished) {
          const entry = leaderboardEntry(params, config, p.history, p.best);
          leaderboard = rank([...leaderboard, entry]);
          if (!winner || better(p.best, winner.best))
            winner = { config: i, history: p.history, best: p.best };
          extra.leaderboard = leaderboard;
        }
        if (winner)
          extra.winner = { config: winner.config, history: winner.history, best: omitWeights(winner.best) };
        await job.lease.assertHeld();
        await saveCheckpoint(job.ckDir, {
          epoch: p.epoch,
          head: p.head,
          history: p.history,
          rngState: p.rngState,
          extra: extra as unknown as Record<string, unknown>,
          sets: { best: p.best.weights, ...(winner ? { winner: winner.best.weights } : {}) },
        });
        await job.reporter.flush();
        await job.lease.assertHeld();
        await ctx.jobs.update(jobId, {
          history: p.history,
          ...(configs.length > 1 ? { leaderboard } : {}),
          warnings: features.warnings.slice(0, 100),
        });
        const last = p.history[p.history.length - 1];
        epochDuration.observe(last.seconds);
        job.log.info({ config: i, ...last }, "epoch done");
        const more = !p.finished || i < configs.length - 1;
        if (job.draining() && more) throw new HandBackError();
      },
    });
    if (result.cancelled) return undefined;
  }
  if (!winner) throw new Error("no head configuration was trained");
  return { winner, leaderboard };
}

function resumeOf(ck: Checkpoint, state: SweepState): HeadProgress | undefined {
  if (!ck.sets?.best) return undefined;
  return {
    epoch: ck.epoch,
    history: ck.history as EpochRecord[],
    head: ck.head,
    rngState: ck.rngState,
    best: { ...state.best, weights: ck.sets.best },
    finished: state.finished,
  };
}

function omitWeights(b: BestEpoch): Omit<BestEpoch, "weights"> {
  return { epoch: b.epoch, loss: b.loss, accuracy: b.accuracy };
}

/** Higher validation accuracy wins; then lower validation loss. */
function better(a: Omit<BestEpoch, "weights">, b: Omit<BestEpoch, "weights">): boolean {
  return a.accuracy > b.accuracy || (a.accuracy === b.accuracy && a.loss < b.loss);
}

function leaderboardEntry(
  params: TrainParams,
  config: HeadConfig,
  history: EpochRecord[],
  best: BestEpoch,
): LeaderboardEntry {
  const hasVal = history.some((h) => h.valLoss !== undefined);
  return {
    params: sweptParams(params, config),
    ...(hasVal
      ? { valAccuracy: best.accuracy, valLoss: best.loss }
      : { accuracy: best.accuracy, loss: best.loss }),
    bestEpoch: best.epoch,
    epochsRun: history.length,
  };
}

function rank(entries: LeaderboardEntry[]): LeaderboardEntry[] {
  const acc = (e: LeaderboardEntry) => e.valAccuracy ?? e.accuracy ?? 0;
  const loss = (e: LeaderboardEntry) => e.valLoss ?? e.loss ?? 0;
  return entries.sort((a, b) => acc(b) - acc(a) || loss(a) - loss(b));
}

async function publish(
  job: Job,
  features: JobFeatures,
  outcome: { winner: Winner; leaderboard: LeaderboardEntry[] },
): Promise<JobOutcome<JobResult>> {
  const { jobId, params } = job;
  const { winner } = outcome;
  const config = job.configs[winner.config];
  const modelId = modelIdForJob(jobId);
  await job.lease.assertHeld();
  const published = await publishModel({
    ...extractContext(job),
    jobId,
    modelId,
    split: job.split,
    features,
    config,
    winner,
  });
  if (!published) return await cancelled(job);
  job.log.info(
    {
      modelId,
      created: published.created,
      accuracy: published.accuracy,
      split: published.split,
      params: params.sweep ? config : undefined,
    },
    "training job completed",
  );
  return {
    state: "completed",
    result: {
      modelId,
      history: winner.history,
      warnings: features.warnings.slice(0, 100),
      ...(job.configs.length > 1 ? { leaderboard: outcome.leaderboard } : {}),
      progress: { phase: "evaluating", step: 1, steps: 1, percent: 100, etaSeconds: 0 },
    },
  };
}

/** The loops stop on a cancel request, or once another worker owns the job. */
function stopping(job: Job): boolean {
  return job.cancel.cancelled || job.lease.lost;
}

/** A stopped job: cancelled on request, or (the lease lost) a {@link LeaseLostError}, nothing written. */
async function cancelled(job: Job): Promise<JobOutcome<JobResult>> {
  await job.lease.assertHeld();
  job.log.info("job cancelled; checkpoints kept");
  return { state: "cancelled" };
}
