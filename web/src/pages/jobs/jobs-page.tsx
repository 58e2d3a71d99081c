import { api } from "../../api/client";
import type { Job, Page } from "../../api/types";
import { ListCard } from "../../components/list-card";
import { StateBadge } from "../../components/notice";
import { PageTitle } from "../../components/page-title";
import { ProgressBar } from "../../components/progress-bar";
import { when } from "../../lib/format";
import { href } from "../../lib/router";
import { useResource } from "../../lib/use-resource";
import { isActive, progressLine } from "./job-summary";

/** `#/jobs`: every job with its state and progress (refreshed while one is queued or running). */
export function JobsPage() {
  const list = useResource("jobs", (signal) => api<Page<Job>>("/v1/jobs?limit=100", { signal }), {
    pollMs: 1500,
    poll: (page) => page.items.some(isActive),
  });
  return (
    <>
      <PageTitle title="Jobs">Jobs</PageTitle>
      <p>
        <a class="button" href={href("jobs", "new")}>
          Start a training job
        </a>
      </p>
      <ListCard<Job>
        id="jobs-title"
        title="All jobs"
        what="jobs"
        list={list}
        testId="jobs-table"
        empty={<p class="muted">No job yet.</p>}
        head={
          <>
            <th scope="col">Job</th>
            <th scope="col">State</th>
            <th scope="col">Progress</th>
            <th scope="col">Dataset</th>
            <th scope="col">Model</th>
            <th scope="col">Created</th>
          </>
        }
        row={(j) => (
          <tr key={j.id} data-id={j.id} data-state={j.state}>
            <th scope="row">
              <a href={href("jobs", j.id)}>{j.id}</a>
              {j.type === "predict" ? " (batch predict)" : ""}
            </th>
            <td>
              <StateBadge state={j.state} />
            </td>
            <td class="progress-cell">
              {isActive(j) && <ProgressBar label={`Progress of ${j.id}`} value={j.progress?.percent ?? 0} />}
              <span class="muted small">{progressLine(j)}</span>
            </td>
            <td>
              {typeof j.params.datasetId === "string" ? (
                <a href={href("datasets", j.params.datasetId)}>{j.params.datasetId}</a>
              ) : (
                "–"
              )}
            </td>
            <td>{j.modelId ? <a href={href("models", j.modelId)}>{j.modelId}</a> : "–"}</td>
            <td>{when(j.createdAt)}</td>
          </tr>
        )}
      />
    </>
  );
}
