import { useState } from "preact/hooks";
import { api } from "../../api/client";
import type { Backbone, Dataset, Page } from "../../api/types";
import { ErrorNotice } from "../../components/notice";
import { PageTitle } from "../../components/page-title";
import { href, navigate } from "../../lib/router";
import { useResource } from "../../lib/use-resource";
import { DEFAULT_FORM, type JobForm, jobBody, sweepOf } from "./job-form-model";

/** A labelled number input of the form. */
function NumberField({
  id,
  label,
  value,
  step,
  min,
  max,
  onInput,
}: {
  id: string;
  label: string;
  value: string;
  step: string;
  min: string;
  max?: string;
  onInput: (v: string) => void;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        type="number"
        inputMode="decimal"
        required
        step={step}
        min={min}
        max={max}
        value={value}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
    </div>
  );
}

/** `#/jobs/new`: the form that starts a training job (main hyperparameters, backbone, an optional sweep). */
export function NewJobPage({ datasetId }: { datasetId: string }) {
  const [form, setForm] = useState<JobForm>({ ...DEFAULT_FORM, datasetId });
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const datasets = useResource("ready-datasets", (signal) =>
    api<Page<Dataset>>("/v1/datasets?limit=500", { signal }),
  );
  const backbones = useResource("backbones", (signal) => api<Page<Backbone>>("/v1/backbones", { signal }));
  const set =
    <K extends keyof JobForm>(k: K) =>
    (v: JobForm[K]) =>
      setForm((f) => ({ ...f, [k]: v }));
  const ready = datasets.data?.items.filter((d) => d.state === "ready") ?? [];
  let sweepInfo = "";
  try {
    const { combinations } = sweepOf(form);
    sweepInfo = combinations > 0 ? `${combinations} heads (at most 64).` : "No sweep.";
  } catch (e) {
    sweepInfo = (e as Error).message;
  }

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const job = await api<{ id: string }>("/v1/jobs", { method: "POST", body: jobBody(form) });
      navigate(href("jobs", job.id));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <>
      <p class="breadcrumb">
        <a href={href("jobs")}>Jobs</a> /
      </p>
      <PageTitle title="New training job">New training job</PageTitle>
      <form class="card job-form" onSubmit={submit} aria-describedby="job-form-help">
        <p id="job-form-help" class="muted">
          Trains a classifier head on the frozen backbone's features. Validation (the val split, else a seeded
          part of train) steers early stopping and the kept epoch; the test split is scored once at the end.
        </p>
        <div class="field">
          <label for="job-dataset">Dataset</label>
          <select
            id="job-dataset"
            required
            value={form.datasetId}
            onChange={(e) => set("datasetId")(e.currentTarget.value)}
          >
            <option value="">Choose a ready dataset…</option>
            {ready.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.classes.length} classes, {d.splits.train.images} train images)
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="job-backbone">Backbone</label>
          <select
            id="job-backbone"
            value={form.backbone}
            onChange={(e) => set("backbone")(e.currentTarget.value)}
          >
            <option value="">Server default</option>
            {backbones.data?.items.map((b) => (
              <option key={b.id} value={b.id}>
                {b.id} ({b.inputSize}px, {b.featureDim} features{b.default ? ", default" : ""})
              </option>
            ))}
          </select>
        </div>
        <div class="grid">
          <NumberField
            id="job-epochs"
            label="Epochs"
            value={form.epochs}
            step="1"
            min="1"
            onInput={set("epochs")}
          />
          <NumberField
            id="job-batch-size"
            label="Batch size"
            value={form.batchSize}
            step="1"
            min="1"
            onInput={set("batchSize")}
          />
          <NumberField
            id="job-learning-rate"
            label="Learning rate"
            value={form.learningRate}
            step="any"
            min="0"
            onInput={set("learningRate")}
          />
          <NumberField
            id="job-hidden-units"
            label="Hidden units"
            value={form.hiddenUnits}
            step="1"
            min="1"
            onInput={set("hiddenUnits")}
          />
          <NumberField
            id="job-dropout"
            label="Dropout"
            value={form.dropout}
            step="any"
            min="0"
            max="0.95"
            onInput={set("dropout")}
          />
        </div>
        <div class="checks">
          <label>
            <input
              type="checkbox"
              checked={form.augment}
              onChange={(e) => set("augment")(e.currentTarget.checked)}
            />{" "}
            Augment (random crops, flips, rotation; cached views)
          </label>
          <label>
            <input
              type="checkbox"
              checked={form.earlyStopping}
              onChange={(e) => set("earlyStopping")(e.currentTarget.checked)}
            />{" "}
            Early stopping on validation loss (patience 3)
          </label>
        </div>
        <fieldset>
          <legend>Sweep (optional)</legend>
          <p class="muted small" id="sweep-help">
            Comma-separated values: one head per combination, ranked on validation; the best is kept.{" "}
            <span data-testid="sweep-info">{sweepInfo}</span>
          </p>
          <div class="grid">
            {(
              [
                ["sweepLearningRate", "Learning rates", "0.0005, 0.001, 0.002"],
                ["sweepHiddenUnits", "Hidden units", "256, 512"],
                ["sweepDropout", "Dropouts", "0.2, 0.5"],
              ] as const
            ).map(([key, label, placeholder]) => (
              <div class="field" key={key}>
                <label for={`job-${key}`}>{label}</label>
                <input
                  id={`job-${key}`}
                  aria-describedby="sweep-help"
                  placeholder={placeholder}
                  value={form[key]}
                  onInput={(e) => set(key)(e.currentTarget.value)}
                />
              </div>
            ))}
          </div>
        </fieldset>
        <ErrorNotice error={error} prefix="The job was not started" />
        <div class="actions">
          <button type="submit" disabled={busy}>
            {busy ? "Starting…" : "Start training"}
          </button>
        </div>
      </form>
    </>
  );
}
