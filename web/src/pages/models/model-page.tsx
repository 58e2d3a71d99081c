import { useState } from "preact/hooks";
import { api } from "../../api/client";
import type { Model } from "../../api/types";
import { ErrorNotice, Loading } from "../../components/notice";
import { PageTitle } from "../../components/page-title";
import { num, percent, when } from "../../lib/format";
import { href } from "../../lib/router";
import { useResource } from "../../lib/use-resource";
import { type Cell, ConfusionMatrix } from "./confusion-matrix";
import { ExportCard } from "./export-button";
import { MisclassifiedList } from "./misclassified-list";
import { PredictPlayground } from "./predict-playground";

/** Headline metrics, calibration and the unknown rule. */
function Summary({ model }: { model: Model }) {
  const m = model.metrics;
  return (
    <section class="card" aria-labelledby="metrics-title">
      <h2 id="metrics-title">Metrics{m.split ? ` (${m.split} split)` : ""}</h2>
      <ul class="stats">
        <li>
          <span class="stat-value">{percent(m.accuracy)}</span> accuracy
        </li>
        <li>
          <span class="stat-value">{num(m.macroF1, 3)}</span> macro F1
        </li>
        <li>
          <span class="stat-value">{num(m.loss, 3)}</span> loss
        </li>
        <li>
          <span class="stat-value">{num(m.ece, 3)}</span> ECE
        </li>
      </ul>
      <dl class="facts">
        <dt>Validation</dt>
        <dd>
          accuracy {percent(model.validationMetrics?.accuracy)}, loss {num(model.validationMetrics?.loss, 3)}
        </dd>
        <dt>Calibration</dt>
        <dd>
          {model.calibration
            ? `temperature ${num(model.calibration.temperature, 2)}; ECE on validation ${num(model.calibration.eceBefore, 3)} before, ${num(model.calibration.eceAfter, 3)} after`
            : "none"}
        </dd>
        <dt>Unknown rule</dt>
        <dd>
          {model.openSet
            ? `${model.openSet.method}, threshold ${num(model.openSet.threshold, 1)}, rejects ${percent(model.openSet.validationRejectRate)} of validation`
            : "none"}
        </dd>
        <dt>Backbone</dt>
        <dd>{model.backbone}</dd>
        <dt>Trained by</dt>
        <dd>
          <a href={href("jobs", model.jobId)}>{model.jobId}</a> on{" "}
          <a href={href("datasets", model.datasetId)}>{model.datasetId}</a>, {when(model.createdAt)}
        </dd>
      </dl>
    </section>
  );
}

function PerClass({ model }: { model: Model }) {
  return (
    <div class="table-wrap">
      <table data-testid="per-class">
        <caption>Per class</caption>
        <thead>
          <tr>
            <th scope="col">Class</th>
            <th scope="col" class="num">
              Precision
            </th>
            <th scope="col" class="num">
              Recall
            </th>
            <th scope="col" class="num">
              F1
            </th>
            <th scope="col" class="num">
              Support
            </th>
          </tr>
        </thead>
        <tbody>
          {model.classes.map((c) => {
            const m = model.metrics.perClass[c];
            return (
              <tr key={c}>
                <th scope="row">{c}</th>
                <td class="num">{num(m?.precision, 3)}</td>
                <td class="num">{num(m?.recall, 3)}</td>
                <td class="num">{num(m?.f1, 3)}</td>
                <td class="num">{m?.support ?? 0}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** `#/models/<id>`: metrics, per-class table, calibration, confusion matrix with its images, predict, export. */
export function ModelPage({ id }: { id: string }) {
  const model = useResource(`model:${id}`, (signal) => api<Model>(`/v1/models/${id}`, { signal }));
  const [cell, setCell] = useState<Cell | undefined>(undefined);
  const m = model.data;
  return (
    <>
      <p class="breadcrumb">
        <a href={href("models")}>Models</a> /
      </p>
      <PageTitle title={`Model ${id}`}>Model {id}</PageTitle>
      <ErrorNotice error={model.error} />
      {!m && !model.error && <Loading what="the model" />}
      {m && (
        <>
          <Summary model={m} />
          <section class="card" aria-labelledby="classes-title">
            <h2 id="classes-title">Classes</h2>
            <div class="side-by-side">
              <PerClass model={m} />
              <ConfusionMatrix
                classes={m.classes}
                matrix={m.metrics.confusionMatrix}
                selected={cell}
                onSelect={setCell}
              />
            </div>
            {cell && (
              <MisclassifiedList key={`${cell.trueLabel}/${cell.predicted}`} modelId={m.id} cell={cell} />
            )}
          </section>
          <PredictPlayground modelId={m.id} classes={m.classes.length} />
          <ExportCard modelId={m.id} />
        </>
      )}
    </>
  );
}
