import Type, { type Static, type TSchema } from "typebox";
import { PreprocessingSchema } from "../backbones/manifest.js";

export const ClassMetricsSchema = Type.Object(
  {
    precision: Type.Number(),
    recall: Type.Number(),
    f1: Type.Number(),
    support: Type.Integer(),
  },
  { title: "ClassMetrics" },
);

export const MetricsSchema = Type.Object(
  {
    split: Type.Optional(
      Type.Enum(["test", "validation", "train"], {
        description:
          "test when the dataset has a test split (evaluated once, at the end), else validation (absent on models trained before API revision 2, as are macroF1 and ece)",
      }),
    ),
    accuracy: Type.Number(),
    loss: Type.Number({ description: "Mean cross-entropy of the calibrated probabilities" }),
    macroF1: Type.Optional(Type.Number()),
    perClass: Type.Record(Type.String(), ClassMetricsSchema),
    confusionMatrix: Type.Array(Type.Array(Type.Integer()), {
      description: "Rows: true class; columns: predicted",
    }),
    ece: Type.Optional(
      Type.Number({ description: "Expected calibration error, 15 equal-width bins of top-1 probability" }),
    ),
  },
  { title: "Metrics" },
);

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const CalibrationSchema = Type.Object(
  {
    temperature: Type.Number({ description: "Logits are divided by it (fitted on validation)" }),
    eceBefore: Type.Number({ description: "On validation" }),
    eceAfter: Type.Number({ description: "On validation" }),
  },
  { title: "Calibration" },
);

export const OpenSetSchema = Type.Object(
  {
    method: Type.String(),
    threshold: Type.Number({ description: "Scores above it are unknown" }),
    validationRejectRate: Type.Number(),
  },
  { title: "OpenSet" },
);

/** A trained model as the API shows it (manifest.json of the model folder). */
export const ModelSchema = Type.Object(
  {
    id: Type.String(),
    jobId: Type.String(),
    tenant: Type.Optional(Type.String({ description: "The tenant that owns it" })),
    datasetId: Type.String(),
    backbone: Type.String(),
    backboneHash: Type.String(),
    classes: Type.Array(Type.String()),
    createdAt: Type.String({ format: "date-time" }),
    preprocessing: PreprocessingSchema,
    featureDim: Type.Integer(),
    params: Type.Record(Type.String(), Type.Unknown()),
    metrics: MetricsSchema,
    validationMetrics: Type.Optional(
      Type.Object({
        accuracy: Type.Number(),
        loss: Type.Number(),
        macroF1: Type.Number(),
        ece: Type.Number(),
      }),
    ),
    calibration: Type.Optional(Nullable(CalibrationSchema)),
    openSet: Type.Optional(Nullable(OpenSetSchema)),
  },
  { title: "Model" },
);
export type ModelManifest = Static<typeof ModelSchema>;

export const PredictionSchema = Type.Object(
  { label: Type.String(), probability: Type.Number() },
  { title: "Prediction" },
);
export type Prediction = Static<typeof PredictionSchema>;
