import Type, { type Static, type TSchema } from "typebox";
import { WebhookRequestSchema, WebhookStatusSchema } from "../webhooks/schemas.js";

const values = <T extends TSchema>(item: T) => Type.Optional(Type.Array(item, { minItems: 1, maxItems: 8 }));

/** Values to sweep: one head per combination, trained on features extracted once, ranked on validation. */
export const SweepSchema = Type.Object(
  {
    learningRate: values(Type.Number({ exclusiveMinimum: 0, maximum: 10 })),
    hiddenUnits: values(Type.Integer({ minimum: 1, maximum: 8192 })),
    dropout: values(Type.Number({ minimum: 0, maximum: 0.95 })),
    epochs: values(Type.Integer({ minimum: 1, maximum: 1000 })),
    batchSize: values(Type.Integer({ minimum: 1, maximum: 4096 })),
    labelSmoothing: values(Type.Number({ minimum: 0, maximum: 0.5 })),
  },
  { additionalProperties: false, description: "At most 64 combinations", title: "Sweep" },
);
export type Sweep = Static<typeof SweepSchema>;

/** Hyperparameters of a training job (POST /v1/jobs), with their defaults and ranges. */
export const TrainParamsSchema = Type.Object(
  {
    datasetId: Type.String({ minLength: 1, maxLength: 128, description: "A ready dataset" }),
    backbone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: "A backbone id; default: the server's default",
      }),
    ),
    epochs: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 10,
      description: "At most this many epochs (early stopping may end sooner)",
    }),
    batchSize: Type.Integer({
      minimum: 1,
      maximum: 4096,
      default: 256,
      description: "Feature vectors per step",
    }),
    learningRate: Type.Number({ exclusiveMinimum: 0, maximum: 10, default: 0.001, description: "Adam's" }),
    hiddenUnits: Type.Integer({
      minimum: 1,
      maximum: 8192,
      default: 256,
      description: "Width of the head's hidden layer",
    }),
    dropout: Type.Number({ minimum: 0, maximum: 0.95, default: 0.2, description: "After the hidden layer" }),
    augment: Type.Boolean({
      default: false,
      description: "Random crops, flips and colour jitter of training images",
    }),
    augmentViews: Type.Integer({
      minimum: 1,
      maximum: 50,
      default: 5,
      description: "With augment: how many augmented views of each image are computed once and cached",
    }),
    validationSplit: Type.Number({
      minimum: 0,
      maximum: 0.5,
      default: 0.1,
      description: "Used when the dataset has no val split: a stratified, seeded part of train validates",
    }),
    seed: Type.Integer({
      minimum: 0,
      maximum: 4294967295,
      default: 1,
      description: "Seeds the validation split, initialization, shuffling and augmentation",
    }),
    earlyStopping: Type.Union(
      [
        Type.Object(
          {
            patience: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "default 3" })),
            minDelta: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "default 0.001" })),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ],
      {
        default: { patience: 3, minDelta: 0.001 },
        description: "On validation loss; null disables early stopping. The best validation epoch is kept.",
      },
    ),
    lrSchedule: Type.Enum(["cosine", "constant"], {
      default: "cosine",
      description: "cosine: the learning rate decays from learningRate to 0 over the epochs",
    }),
    labelSmoothing: Type.Number({
      minimum: 0,
      maximum: 0.5,
      default: 0,
      description: "Cross-entropy targets mixed with the uniform distribution",
    }),
    classWeights: Type.Union(
      [
        Type.Enum(["none", "balanced"]),
        Type.Record(Type.String({ minLength: 1 }), Type.Number({ minimum: 0, maximum: 1000 })),
      ],
      {
        default: "none",
        description:
          "Loss weight per class: none, balanced (n / (classes * n_class)), or a map of class to weight (missing classes weigh 1)",
      },
    ),
    sweep: Type.Optional(SweepSchema),
  },
  { additionalProperties: false, title: "TrainParams" },
);
export type TrainParamsInput = Static<typeof TrainParamsSchema>;

/** The body of POST /v1/jobs: the training parameters, and where to POST the job when it ends. */
export const CreateJobSchema = Type.Object(
  {
    ...TrainParamsSchema.properties,
    webhook: Type.Optional(WebhookRequestSchema),
  },
  { additionalProperties: false, title: "CreateJobRequest" },
);
export type CreateJobInput = Static<typeof CreateJobSchema>;
/** Training parameters after defaults are applied (backbone and early stopping resolved). */
export type TrainParams = Omit<TrainParamsInput, "earlyStopping"> & {
  backbone: string;
  earlyStopping: { patience: number; minDelta: number } | null;
};

/** Applies the defaults that schema validation cannot (the backbone, early stopping's fields). */
export function resolveTrainParams(input: TrainParamsInput, defaultBackbone: string): TrainParams {
  const es = input.earlyStopping;
  return {
    ...input,
    backbone: input.backbone ?? defaultBackbone,
    earlyStopping: es === null ? null : { patience: es?.patience ?? 3, minDelta: es?.minDelta ?? 0.001 },
  };
}

/** Parameters of a batch-inference job. */
export const PredictJobParamsSchema = Type.Object(
  { datasetId: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false, title: "BatchPredictionRequest" },
);
export type PredictJobParams = Static<typeof PredictJobParamsSchema> & { modelId: string };

export const JobStateSchema = Type.Enum(["queued", "running", "completed", "failed", "cancelled"], {
  title: "JobState",
});
export type JobState = Static<typeof JobStateSchema>;

export const ProgressSchema = Type.Object(
  {
    phase: Type.Enum(["queued", "extracting", "training", "evaluating", "saving", "predicting"]),
    epoch: Type.Optional(Type.Integer()),
    epochs: Type.Optional(Type.Integer()),
    step: Type.Integer(),
    steps: Type.Integer(),
    percent: Type.Number(),
    imagesPerSec: Type.Optional(Type.Number()),
    etaSeconds: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
  },
  { title: "JobProgress" },
);
export type Progress = Static<typeof ProgressSchema>;

export const EpochSchema = Type.Object(
  {
    epoch: Type.Integer(),
    loss: Type.Number(),
    accuracy: Type.Number(),
    valLoss: Type.Optional(Type.Number()),
    valAccuracy: Type.Optional(Type.Number()),
    seconds: Type.Number({ description: "Wall time of the epoch, feature extraction included" }),
  },
  { title: "Epoch" },
);
export type EpochRecord = Static<typeof EpochSchema>;

/** One head configuration of a sweep, ranked on validation (training figures when there is none). */
export const LeaderboardEntrySchema = Type.Object(
  {
    params: Type.Record(Type.String(), Type.Number(), { description: "The swept parameters" }),
    valAccuracy: Type.Optional(Type.Number()),
    valLoss: Type.Optional(Type.Number()),
    accuracy: Type.Optional(Type.Number({ description: "Training accuracy, only without validation data" })),
    loss: Type.Optional(Type.Number({ description: "Training loss, only without validation data" })),
    bestEpoch: Type.Integer(),
    epochsRun: Type.Integer(),
  },
  { title: "LeaderboardEntry" },
);
export type LeaderboardEntry = Static<typeof LeaderboardEntrySchema>;

const ErrorInfo = Type.Object({ code: Type.String(), message: Type.String() });

/** A job as GET /v1/jobs/:id returns it. */
export const JobSchema = Type.Object(
  {
    id: Type.String(),
    type: Type.Enum(["train", "predict"]),
    tenant: Type.Optional(Type.String({ description: "The tenant that owns it" })),
    state: JobStateSchema,
    params: Type.Record(Type.String(), Type.Unknown()),
    createdAt: Type.String({ format: "date-time" }),
    startedAt: Type.Optional(Type.String({ format: "date-time" })),
    finishedAt: Type.Optional(Type.String({ format: "date-time" })),
    attempts: Type.Optional(Type.Integer({ description: "Times a worker has started the job" })),
    progress: Type.Optional(ProgressSchema),
    history: Type.Array(EpochSchema, {
      description: "Epochs of the head being trained; once completed, of the head that was kept",
    }),
    leaderboard: Type.Optional(Type.Array(LeaderboardEntrySchema, { description: "Sweeps: best first" })),
    modelId: Type.Optional(Type.String()),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(ErrorInfo),
    warnings: Type.Optional(Type.Array(Type.String())),
    webhook: Type.Optional(WebhookStatusSchema),
    stalled: Type.Optional(
      Type.Boolean({
        description:
          "Running, but its worker stopped renewing the job's lock (dead, frozen or cut off): another worker takes the job over",
      }),
    ),
  },
  { title: "Job" },
);
export type JobRecord = Static<typeof JobSchema>;
