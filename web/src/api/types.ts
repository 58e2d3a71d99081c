/** The v1 API's JSON shapes that the dashboard reads (see docs/api.md). */

/** `{"error": {"code", "message"}}`, the body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** A page of a list: newest first. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Images of one split, per class. */
export interface SplitSummary {
  images: number;
  perClass: Record<string, number>;
}

/** Counts of the dataset report. */
export interface ReportSummary {
  exactDuplicates: number;
  nearDuplicates: number;
  leaks: number;
  conflicts: number;
  imbalanceRatio: number;
}

/** A dataset record. */
export interface Dataset {
  id: string;
  name: string;
  bytes?: number;
  createdAt: string;
  state: "ingesting" | "ready" | "failed";
  progress?: { files: number; done: number; percent: number; imagesPerSec: number };
  classes: string[];
  splits: { train: SplitSummary; val?: SplitSummary; test?: SplitSummary };
  rejectedCount: number;
  ignored: number;
  summary?: ReportSummary;
  error?: { code: string; message: string };
  readyAt?: string;
}

/** GET /v1/datasets/:id/report. */
export interface DatasetReport {
  exactDuplicates: { paths: string[] }[];
  nearDuplicates: { paths: string[]; distance: number }[];
  leaks: { train: string; other: string; kind: "exact" | "near" }[];
  conflicts: { paths: string[]; labels: string[] }[];
  imbalance: { largest: string; smallest: string; ratio: number };
  rejected: { path: string; reason: string }[];
  classNameCollisions: string[][];
}

/** A pretrained feature extractor. */
export interface Backbone {
  id: string;
  format: string;
  inputSize: number;
  featureDim: number;
  runtime: string;
  default: boolean;
  description?: string;
}

/** The lifecycle of a job. */
export type JobState = "queued" | "running" | "completed" | "failed" | "cancelled";

/** One epoch of the head's training. */
export interface Epoch {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  seconds: number;
}

/** Where a job stands. */
export interface JobProgress {
  phase: string;
  epoch?: number;
  epochs?: number;
  step: number;
  steps: number;
  percent: number;
  imagesPerSec?: number;
  etaSeconds?: number | null;
}

/** One head of a sweep. */
export interface LeaderboardEntry {
  params: Record<string, number>;
  valAccuracy?: number;
  valLoss?: number;
  accuracy?: number;
  loss?: number;
  bestEpoch: number;
  epochsRun: number;
}

/** A job record. */
export interface Job {
  id: string;
  type: "train" | "predict";
  state: JobState;
  params: Record<string, unknown>;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  progress?: JobProgress;
  history: Epoch[];
  leaderboard?: LeaderboardEntry[];
  modelId?: string;
  error?: { code: string; message: string };
  warnings?: string[];
  stalled?: boolean;
}

/** Precision, recall and F1 of one class. */
export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** A model's evaluation. */
export interface Metrics {
  split?: "test" | "validation" | "train";
  accuracy: number;
  loss: number;
  macroF1?: number;
  perClass: Record<string, ClassMetrics>;
  confusionMatrix: number[][];
  ece?: number;
}

/** A trained model. */
export interface Model {
  id: string;
  jobId: string;
  datasetId: string;
  backbone: string;
  classes: string[];
  createdAt: string;
  params: Record<string, unknown>;
  metrics: Metrics;
  validationMetrics?: { accuracy?: number; loss?: number };
  calibration?: { temperature: number; eceBefore: number; eceAfter: number } | null;
  openSet?: { method: string; threshold: number; validationRejectRate: number } | null;
}

/** One misclassified image of the evaluation split. */
export interface MisclassifiedImage {
  path: string;
  trueLabel: string;
  predicted: string;
  probability: number;
  imageUrl: string;
}

/** POST /v1/models/:id/predict with one image. */
export interface PredictOne {
  predictions: { label: string; probability: number }[];
  unknown?: boolean;
}
