import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { api } from "../../api/client";
import type { Job, LeaderboardEntry } from "../../api/types";
import { ErrorNotice, Loading, StateBadge } from "../../components/notice";
import { PageTitle } from "../../components/page-title";
import { ProgressBar } from "../../components/progress-bar";
import { duration, num, percent, when } from "../../lib/format";
import { href } from "../../lib/router";
import { Curves } from "./curves";
import { epochText, isActive } from "./job-summary";
import { useJobStream } from "./use-job-stream";

function Leaderboard({ entries }: { entries: LeaderboardEntry[] }) {
  const keys = [...new Set(entries.flatMap((e) => Object.keys(e.params)))];
  return (
    <section class="card" aria-labelledby="leaderboard-title">
      <h2 id="leaderboard-title">Sweep leaderboard</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Rank</th>
              {keys.map((k) => (
                <th key={k} scope="col" class="num">
                  {k}
                </th>
              ))}
              <th scope="col" class="num">
                Val accuracy
              </th>
              <th scope="col" class="num">
                Val loss
              </th>
              <th scope="col" class="num">
                Best epoch
              </th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e, i) => (
              <tr key={JSON.stringify(e.params)}>
                <th scope="row">{i + 1}</th>
                {keys.map((k) => (
                  <td key={k} class="num">
                    {num(e.params[k], 4)}
                  </td>
                ))}
                <td class="num">{percent(e.valAccuracy ?? e.accuracy)}</td>
                <td class="num">{num(e.valLoss ?? e.loss, 4)}</td>
                <td class="num">
                  {e.bestEpoch} / {e.epochsRun}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** State, phase, progress, images/s and ETA of a job, with its cancel button. */
function Status({ job, onCancelled }: { job: Job; onCancelled: (job: Job) => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const [cancelling, setCancelling] = useState(false);
  const p = job.progress;
  const cancel = async () => {
    setCancelling(true);
    try {
      await api(`/v1/jobs/${job.id}`, { method: "DELETE" });
      onCancelled(await api<Job>(`/v1/jobs/${job.id}`));
    } catch (err) {
      setError(err);
    } finally {
      setCancelling(false);
    }
  };
  return (
    <section class="card" aria-labelledby="status-title">
      <h2 id="status-title">Status</h2>
      <dl class="facts" data-testid="job-status" data-state={job.state}>
        <dt>State</dt>
        <dd>
          <StateBadge state={job.state} />
          {job.stalled ? " (worker lost: another one takes over)" : ""}
        </dd>
        <dt>Phase</dt>
        <dd data-testid="job-phase">
          {p?.phase ?? "–"} {epochText(job)}
        </dd>
        <dt>Images/s</dt>
        <dd>{num(p?.imagesPerSec, 1)}</dd>
        <dt>ETA</dt>
        <dd>{isActive(job) ? duration(p?.etaSeconds) : "–"}</dd>
        <dt>Started / finished</dt>
        <dd>
          {when(job.startedAt)} / {when(job.finishedAt)}
        </dd>
      </dl>
      {isActive(job) && <ProgressBar label="Job progress" value={p?.percent ?? 0} />}
      {job.state === "failed" && (
        <ErrorNotice error={`${job.error?.message} (${job.error?.code})`} prefix="Failed" />
      )}
      {job.warnings?.map((w) => (
        <p key={w} class="notice warn">
          {w}
        </p>
      ))}
      <ErrorNotice error={error} prefix="Cancel failed" />
      <div class="actions">
        {job.modelId && (
          <a class="button" href={href("models", job.modelId)}>
            Open the model
          </a>
        )}
        {isActive(job) && (
          <button type="button" class="danger" disabled={cancelling} onClick={cancel}>
            {cancelling ? "Cancelling…" : "Cancel job"}
          </button>
        )}
      </div>
    </section>
  );
}

/** `#/jobs/<id>`: live status and loss/accuracy curves from the event stream; cancel; the sweep's ranking. */
export function JobPage({ id }: { id: string }) {
  const { job, error, mode, set } = useJobStream(id);
  const params = job ? Object.entries(job.params).filter(([k]) => k !== "datasetId") : [];
  return (
    <>
      <p class="breadcrumb">
        <a href={href("jobs")}>Jobs</a> /
      </p>
      <PageTitle title={`Job ${id}`}>Job {id}</PageTitle>
      <ErrorNotice error={error} />
      {!job && !error && <Loading what="the job" />}
      {job && (
        <>
          <Status job={job} onCancelled={set} />
          <section class="card" aria-labelledby="curves-title">
            <h2 id="curves-title">Training curves</h2>
            <p class="muted small" aria-live="off">
              {mode === "stream" ? "Live from the event stream." : mode === "poll" ? "Polling the job." : ""}
            </p>
            <Curves
              history={job.history}
              epochs={
                job.progress?.epochs ??
                (typeof job.params.epochs === "number" ? job.params.epochs : undefined)
              }
            />
          </section>
          {job.leaderboard && job.leaderboard.length > 0 && <Leaderboard entries={job.leaderboard} />}
          <section class="card" aria-labelledby="params-title">
            <h2 id="params-title">Parameters</h2>
            <dl class="facts">
              {typeof job.params.datasetId === "string" && (
                <>
                  <dt>datasetId</dt>
                  <dd>
                    <a href={href("datasets", job.params.datasetId)}>{job.params.datasetId}</a>
                  </dd>
                </>
              )}
              {params.map(([k, v]) => (
                <Fragment key={k}>
                  <dt>{k}</dt>
                  <dd>
                    <code>{JSON.stringify(v)}</code>
                  </dd>
                </Fragment>
              ))}
            </dl>
          </section>
        </>
      )}
    </>
  );
}
