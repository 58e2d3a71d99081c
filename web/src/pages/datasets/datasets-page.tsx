import { api } from "../../api/client";
import type { Dataset, Page } from "../../api/types";
import { ListCard } from "../../components/list-card";
import { StateBadge } from "../../components/notice";
import { PageTitle } from "../../components/page-title";
import { ProgressBar } from "../../components/progress-bar";
import { when } from "../../lib/format";
import { href } from "../../lib/router";
import { useResource } from "../../lib/use-resource";
import { UploadPanel } from "./upload-panel";

/** `#/datasets`: the upload panel and every dataset (refreshed while one is ingesting). */
export function DatasetsPage() {
  const list = useResource("datasets", (signal) => api<Page<Dataset>>("/v1/datasets?limit=100", { signal }), {
    pollMs: 1500,
    poll: (page) => page.items.some((d) => d.state === "ingesting"),
  });
  return (
    <>
      <PageTitle title="Datasets">Datasets</PageTitle>
      <UploadPanel onChange={list.reload} />
      <ListCard<Dataset>
        id="datasets-title"
        title="All datasets"
        what="datasets"
        list={list}
        testId="datasets-table"
        empty={<p class="muted">No dataset yet: upload one above.</p>}
        head={
          <>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Classes</th>
            <th scope="col" class="num">
              Train / val / test
            </th>
            <th scope="col">Created</th>
          </>
        }
        row={(d) => (
          <tr key={d.id} data-id={d.id} data-state={d.state}>
            <th scope="row">
              <a href={href("datasets", d.id)}>{d.name}</a>
            </th>
            <td>
              <StateBadge state={d.state} />
              {d.state === "ingesting" && (
                <ProgressBar label={`Ingestion of ${d.name}`} value={d.progress?.percent ?? 0} />
              )}
            </td>
            <td>{d.classes.join(", ") || "–"}</td>
            <td class="num">
              {d.splits.train.images} / {d.splits.val?.images ?? 0} / {d.splits.test?.images ?? 0}
            </td>
            <td>{when(d.createdAt)}</td>
          </tr>
        )}
      />
    </>
  );
}
