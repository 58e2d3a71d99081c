import { api } from "../../api/client";
import type { Dataset, DatasetReport } from "../../api/types";
import { ErrorNotice, Loading, StateBadge } from "../../components/notice";
import { PageTitle } from "../../components/page-title";
import { ProgressBar } from "../../components/progress-bar";
import { bytes, when } from "../../lib/format";
import { href } from "../../lib/router";
import { useResource } from "../../lib/use-resource";
import { ReportView } from "./report-view";

const SPLITS = ["train", "val", "test"] as const;

/** Images per class and split, with totals. */
function SplitTable({ dataset }: { dataset: Dataset }) {
  const splits = SPLITS.filter((s) => dataset.splits[s]);
  return (
    <div class="table-wrap">
      <table data-testid="split-table">
        <caption>Images per class and split</caption>
        <thead>
          <tr>
            <th scope="col">Class</th>
            {splits.map((s) => (
              <th key={s} scope="col" class="num">
                {s}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {dataset.classes.map((c) => (
            <tr key={c}>
              <th scope="row">{c}</th>
              {splits.map((s) => (
                <td key={s} class="num">
                  {dataset.splits[s]?.perClass[c] ?? 0}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">All</th>
            {splits.map((s) => (
              <td key={s} class="num">
                {dataset.splits[s]?.images ?? 0}
              </td>
            ))}
          </tr>
        </tfoot>
      </table>
    </div>
  );
}

/** `#/datasets/<id>`: state, classes, split counts and the report with thumbnails. */
export function DatasetPage({ id }: { id: string }) {
  const ds = useResource(`dataset:${id}`, (signal) => api<Dataset>(`/v1/datasets/${id}`, { signal }), {
    pollMs: 700,
    poll: (d) => d.state === "ingesting",
  });
  const ready = ds.data?.state === "ready";
  const report = useResource(`report:${id}:${ready}`, (signal) =>
    ready ? api<DatasetReport>(`/v1/datasets/${id}/report`, { signal }) : Promise.resolve(undefined),
  );
  const d = ds.data;
  return (
    <>
      <p class="breadcrumb">
        <a href={href("datasets")}>Datasets</a> /
      </p>
      <PageTitle title={d?.name ?? id}>{d?.name ?? id}</PageTitle>
      <ErrorNotice error={ds.error} />
      {!d && !ds.error && <Loading what="the dataset" />}
      {d && (
        <>
          <section class="card" aria-labelledby="overview-title">
            <h2 id="overview-title">Overview</h2>
            <dl class="facts">
              <dt>State</dt>
              <dd>
                <StateBadge state={d.state} />
              </dd>
              <dt>Id</dt>
              <dd>
                <code>{d.id}</code>
              </dd>
              <dt>Archive</dt>
              <dd>{bytes(d.bytes)}</dd>
              <dt>Created</dt>
              <dd>{when(d.createdAt)}</dd>
              <dt>Classes</dt>
              <dd>{d.classes.join(", ") || "–"}</dd>
              <dt>Rejected / ignored files</dt>
              <dd>
                {d.rejectedCount} / {d.ignored}
              </dd>
            </dl>
            {d.state === "ingesting" && <ProgressBar label="Ingestion" value={d.progress?.percent ?? 0} />}
            {d.state === "failed" && <ErrorNotice error={d.error?.message} prefix="Ingestion failed" />}
            {ready && (
              <p>
                <a class="button" href={`${href("jobs", "new")}?datasetId=${encodeURIComponent(d.id)}`}>
                  Train a model on it
                </a>
              </p>
            )}
          </section>
          {ready && (
            <section class="card" aria-labelledby="splits-title">
              <h2 id="splits-title">Classes and splits</h2>
              <SplitTable dataset={d} />
            </section>
          )}
          {ready && (
            <section class="card" aria-labelledby="report-title">
              <h2 id="report-title">Report</h2>
              <ErrorNotice error={report.error} />
              {!report.data && !report.error && <Loading what="the report" />}
              {report.data && <ReportView datasetId={d.id} report={report.data} />}
            </section>
          )}
        </>
      )}
    </>
  );
}
