import { randomUUID } from "node:crypto";
import { type Command, Option } from "commander";
import type { JobRecord } from "../jobs/schemas.js";
import { UsageError } from "./errors.js";
import { EPOCH_COLUMNS, epochCells, followJob } from "./follow.js";
import { formatDuration, type Paint, paintState, shortTime, table } from "./format.js";
import { addListAndGet } from "./resource.js";
import { intArg, numberArg, type RuntimeOf, seg } from "./runtime.js";

const JOB_STATES = ["queued", "running", "completed", "failed", "cancelled"];

interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  hiddenUnits?: number;
  dropout?: number;
  backbone?: string;
  augment?: boolean;
  validationSplit?: number;
  seed?: number;
  webhookUrl?: string;
  webhookSecret?: string;
  follow?: boolean;
}

/** `transfer train` and `transfer jobs list|get|follow|cancel|rm`. */
export function registerJobs(program: Command, runtimeOf: RuntimeOf): void {
  program
    .command("train")
    .description("start a training job on a ready dataset (POST /v1/jobs)")
    .argument("<datasetId>")
    .option("--epochs <n>", "at most this many epochs (server default 10)", intArg(1, 1000))
    .option("--batch-size <n>", "feature vectors per step", intArg(1, 4096))
    .option("--learning-rate <x>", "Adam's learning rate", numberArg(0, 10, true))
    .option("--hidden-units <n>", "width of the head's hidden layer", intArg(1, 8192))
    .option("--dropout <x>", "dropout after the hidden layer", numberArg(0, 0.95))
    .option("--backbone <id>", "backbone id (GET /v1/backbones; default: the server's)")
    .option("--augment", "random crops, flips and colour jitter of training images")
    .option("--validation-split <x>", "part of train that validates, without a val split", numberArg(0, 0.5))
    .option("--seed <n>", "seed of the split, initialisation and shuffling", intArg(0, 4294967295))
    .option("--webhook-url <url>", "POST the final job to this URL when it ends (with --webhook-secret)")
    .option("--webhook-secret <secret>", "HMAC-SHA256 key of the webhook's X-Signature-256")
    .option("--follow", "follow the job: live progress bar and a table row per epoch")
    .action(async (datasetId: string, opts: TrainOptions, cmd: Command) => {
      if ((opts.webhookUrl === undefined) !== (opts.webhookSecret === undefined)) {
        throw new UsageError("--webhook-url and --webhook-secret go together");
      }
      const rt = runtimeOf(cmd);
      const body = {
        datasetId,
        epochs: opts.epochs,
        batchSize: opts.batchSize,
        learningRate: opts.learningRate,
        hiddenUnits: opts.hiddenUnits,
        dropout: opts.dropout,
        backbone: opts.backbone,
        augment: opts.augment,
        validationSplit: opts.validationSplit,
        seed: opts.seed,
        webhook: opts.webhookUrl ? { url: opts.webhookUrl, secret: opts.webhookSecret } : undefined,
      };
      // A retry (429/503 with Retry-After) of the same request must not start a second job.
      const job = await rt.api.json<{ id: string; state: string }>("POST", "/v1/jobs", body, undefined, {
        "idempotency-key": `cli-${randomUUID()}`,
      });
      const { out } = rt;
      if (!opts.follow) {
        out.record(job);
        out.print(
          `job ${out.paint.bold(job.id)} ${paintState(out.paint, job.state)}`,
          out.paint.dim(`follow it with: transfer jobs follow ${job.id}`),
        );
        return;
      }
      out.record({ event: "job", jobId: job.id, state: job.state });
      out.info(
        `job ${out.paint.bold(job.id)} ${paintState(out.paint, job.state)}; following (Ctrl-C leaves it running)`,
      );
      await followJob(rt, job.id);
    });

  const jobs = program.command("jobs").description("follow and manage training and batch prediction jobs");

  addListAndGet<JobRecord>(jobs, runtimeOf, {
    plural: "jobs",
    path: "/v1/jobs",
    idName: "jobId",
    getDescription: "show a job: state, progress, epochs, model or error",
    filters: [
      new Option("--state <state>", "only jobs in this state").choices(JOB_STATES),
      new Option("--type <type>", "only jobs of this type").choices(["train", "predict"]),
    ],
    columns: [
      { header: "ID" },
      { header: "TYPE" },
      { header: "STATE" },
      { header: "PROGRESS", right: true },
      { header: "MODEL" },
      { header: "CREATED" },
    ],
    row: (j, paint) => [
      j.id,
      j.type,
      paintState(paint, j.state),
      j.progress ? `${j.progress.percent.toFixed(0)}%` : "-",
      j.modelId ?? "-",
      shortTime(j.createdAt),
    ],
    summary: jobSummary,
  });

  jobs
    .command("follow")
    .description("follow a job's progress until it ends (Ctrl-C leaves it running)")
    .argument("<jobId>")
    .action(async (id: string, _opts: object, cmd: Command) => {
      await followJob(runtimeOf(cmd), id);
    });

  for (const [name, alias] of [
    ["cancel", "rm"],
    ["rm", "cancel"],
  ] as const) {
    jobs
      .command(name)
      .description(`cancel a queued or running job (DELETE /v1/jobs/:id; same as '${alias}')`)
      .argument("<jobId>")
      .action(async (id: string, _opts: object, cmd: Command) => {
        const { api, out } = runtimeOf(cmd);
        const job = await api.json<{ id: string; state: string }>("DELETE", `/v1/jobs/${seg(id)}`);
        out.record(job);
        out.print(`job ${out.paint.bold(job.id)} ${paintState(out.paint, job.state)}`);
      });
  }
}

/** A job in a few lines: state and timing, progress, epochs, model or error. */
export function jobSummary(job: JobRecord, p: Paint): string[] {
  const took =
    job.startedAt && job.finishedAt
      ? ` in ${formatDuration((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000)}`
      : "";
  const lines = [
    `job ${p.bold(job.id)} (${job.type}) ${paintState(p, job.state)}${took}, created ${shortTime(job.createdAt)}`,
  ];
  const pr = job.progress;
  if (pr && (job.state === "running" || job.state === "queued")) {
    const epoch = pr.epoch !== undefined && pr.epochs !== undefined ? ` epoch ${pr.epoch}/${pr.epochs}` : "";
    lines.push(
      `  ${pr.phase}${epoch}: ${pr.percent.toFixed(0)}%, ETA ${formatDuration(pr.etaSeconds)}` +
        (job.stalled ? p.yellow(" (stalled: waiting for another worker)") : ""),
    );
  }
  if (job.history?.length) {
    lines.push(...table(EPOCH_COLUMNS, job.history.map(epochCells), p).map((l) => `  ${l}`));
  }
  if (job.modelId) lines.push(`  model ${p.bold(job.modelId)}`);
  if (job.error) lines.push(`  ${p.red("error:")} ${job.error.code}: ${job.error.message}`);
  for (const w of job.warnings ?? []) lines.push(`  ${p.yellow("warning:")} ${w}`);
  return lines;
}
