import { api } from "../../api/client";
import type { Model, Page } from "../../api/types";
import { ListCard } from "../../components/list-card";
import { PageTitle } from "../../components/page-title";
import { num, percent, when } from "../../lib/format";
import { href } from "../../lib/router";
import { useResource } from "../../lib/use-resource";

/** `#/models`: every model with its headline metrics. */
export function ModelsPage() {
  const list = useResource("models", (signal) => api<Page<Model>>("/v1/models?limit=100", { signal }));
  return (
    <>
      <PageTitle title="Models">Models</PageTitle>
      <ListCard<Model>
        id="models-title"
        title="All models"
        what="models"
        list={list}
        testId="models-table"
        empty={
          <p class="muted">
            No model yet: a completed <a href={href("jobs")}>training job</a> makes one.
          </p>
        }
        head={
          <>
            <th scope="col">Model</th>
            <th scope="col">Classes</th>
            <th scope="col" class="num">
              Accuracy
            </th>
            <th scope="col" class="num">
              Macro F1
            </th>
            <th scope="col" class="num">
              ECE
            </th>
            <th scope="col">Backbone</th>
            <th scope="col">Created</th>
          </>
        }
        row={(m) => (
          <tr key={m.id} data-id={m.id}>
            <th scope="row">
              <a href={href("models", m.id)}>{m.id}</a>
            </th>
            <td>{m.classes.join(", ")}</td>
            <td class="num">
              {percent(m.metrics.accuracy)}
              {m.metrics.split ? <span class="muted small"> ({m.metrics.split})</span> : null}
            </td>
            <td class="num">{num(m.metrics.macroF1, 3)}</td>
            <td class="num">{num(m.metrics.ece, 3)}</td>
            <td>{m.backbone}</td>
            <td>{when(m.createdAt)}</td>
          </tr>
        )}
      />
    </>
  );
}
