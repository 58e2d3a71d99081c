import Type, { type Static } from "typebox";
import { PreprocessingSchema } from "../backbones/manifest.js";

export const ClassMetricsSchema = Type.Object({
  precision: Type.Number(),
  recall: Type.Number(),
  f1: Type.Number(),
  support: Type.Integer(),
});

export const MetricsSchema = Type.Object({
  accuracy: Type.Number(),
  loss: Type.Number(),
  perClass: Type.Record(Type.String(), ClassMetricsSchema),
  confusionMatrix: Type.Array(Type.Array(Type.Integer())),
  evaluatedOn: Type.Optional(Type.String({ description: "val, test or a validationSplit of train" })),
});

/** A trained model as the API shows it (manifest.json of the model folder). */
export const ModelSchema = Type.Object(
  {
    id: Type.String(),
    jobId: Type.String(),
    datasetId: Type.String(),
    backbone: Type.String(),
    backboneHash: Type.String(),
    classes: Type.Array(Type.String()),
    createdAt: Type.String({ format: "date-time" }),
    preprocessing: PreprocessingSchema,
    featureDim: Type.Integer(),
    params: Type.Record(Type.String(), Type.Unknown()),
    metrics: MetricsSchema,
  },
  { title: "Model" },
);
export type ModelManifest = Static<typeof ModelSchema>;

export const PredictionSchema = Type.Object({ label: Type.String(), probability: Type.Number() });
export type Prediction = Static<typeof PredictionSchema>;
