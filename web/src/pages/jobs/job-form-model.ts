/** The new-job form's fields as typed in, and their translation into a POST /v1/jobs body. */

/** The form's fields, as strings and booleans the inputs hold. */
export interface JobForm {
  datasetId: string;
  backbone: string;
  epochs: string;
  batchSize: string;
  learningRate: string;
  hiddenUnits: string;
  dropout: string;
  augment: boolean;
  earlyStopping: boolean;
  sweepLearningRate: string;
  sweepHiddenUnits: string;
  sweepDropout: string;
}

/** The API's defaults, as the form starts. */
export const DEFAULT_FORM: JobForm = {
  datasetId: "",
  backbone: "",
  epochs: "10",
  batchSize: "256",
  learningRate: "0.001",
  hiddenUnits: "256",
  dropout: "0.2",
  augment: false,
  earlyStopping: true,
  sweepLearningRate: "",
  sweepHiddenUnits: "",
  sweepDropout: "",
};

/** `"0.001, 0.003"` -> `[0.001, 0.003]`; throws on a value that is not a number. */
export function parseList(text: string, what: string): number[] {
  const parts = text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  return parts.map((p) => {
    const v = Number(p);
    if (!Number.isFinite(v)) throw new Error(`${what}: '${p}' is not a number`);
    return v;
  });
}

/** The sweep's axes that have values, and how many heads they make. */
export function sweepOf(form: JobForm): { sweep: Record<string, number[]>; combinations: number } {
  const sweep: Record<string, number[]> = {};
  const lr = parseList(form.sweepLearningRate, "Sweep learning rates");
  const hu = parseList(form.sweepHiddenUnits, "Sweep hidden units");
  const dr = parseList(form.sweepDropout, "Sweep dropouts");
  if (lr.length) sweep.learningRate = lr;
  if (hu.length) sweep.hiddenUnits = hu;
  if (dr.length) sweep.dropout = dr;
  const combinations = Object.values(sweep).reduce((n, v) => n * v.length, 1);
  return { sweep, combinations: Object.keys(sweep).length ? combinations : 0 };
}

/** The POST /v1/jobs body of the form (the server validates the ranges and names bad fields). */
export function jobBody(form: JobForm): Record<string, unknown> {
  const body: Record<string, unknown> = {
    datasetId: form.datasetId,
    epochs: Number(form.epochs),
    batchSize: Number(form.batchSize),
    learningRate: Number(form.learningRate),
    hiddenUnits: Number(form.hiddenUnits),
    dropout: Number(form.dropout),
    augment: form.augment,
  };
  if (form.backbone) body.backbone = form.backbone;
  if (!form.earlyStopping) body.earlyStopping = null;
  const { sweep, combinations } = sweepOf(form);
  if (combinations > 0) body.sweep = sweep;
  return body;
}
