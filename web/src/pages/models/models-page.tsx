import { api } from "../../api/client";
import type { Model, Page } from "../../api/types";
import { ErrorNotice, Loading } from "../../components/notice";
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
      <section class="card" aria-labelledby="models-title">
        <h2 id="models-title">All models</h2>
        <ErrorNotice error={list.error} />
        {!list.data && !list.error && <Loading what="models" />}
        {list.data && list.data.items.length === 0 && (
          <p class="muted">
            No model yet: a completed <a href={href("jobs")}>training job</a> makes one.
          </p>
        )}
        {list.data && list.data.items.length > 0 && (
          <div class="table-wrap">
            <table data-testid="models-table">
              <thead>
                <tr>
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
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((m) => (
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
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
