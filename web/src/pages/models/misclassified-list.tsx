import { api } from "../../api/client";
import type { MisclassifiedImage, Page } from "../../api/types";
import { AuthImage } from "../../components/auth-image";
import { ErrorNotice, Loading } from "../../components/notice";
import { percent } from "../../lib/format";
import { useResource } from "../../lib/use-resource";
import type { Cell } from "./confusion-matrix";

/** The images of one confusion-matrix cell, most confident errors first. */
export function MisclassifiedList({ modelId, cell }: { modelId: string; cell: Cell }) {
  const query = new URLSearchParams({ trueLabel: cell.trueLabel, predicted: cell.predicted, limit: "48" });
  const items = useResource(`mis:${modelId}:${query}`, (signal) =>
    api<Page<MisclassifiedImage>>(`/v1/models/${modelId}/misclassified?${query}`, { signal }),
  );
  return (
    <section class="misclassified" aria-labelledby="mis-title" aria-live="polite" data-testid="misclassified">
      <h3 id="mis-title" tabIndex={-1}>
        True {cell.trueLabel}, predicted {cell.predicted}
      </h3>
      <ErrorNotice error={items.error} />
      {!items.data && !items.error && <Loading what="images" />}
      {items.data && items.data.items.length === 0 && <p class="muted">No image in this cell.</p>}
      {items.data && (
        <ul class="gallery">
          {items.data.items.map((m) => (
            <li key={m.path}>
              <figure class="thumb-figure">
                <AuthImage src={m.imageUrl} alt={`${m.path}: ${m.trueLabel} predicted as ${m.predicted}`} />
                <figcaption>
                  {m.path}
                  <br />
                  {m.predicted} at {percent(m.probability)}
                </figcaption>
              </figure>
            </li>
          ))}
        </ul>
      )}
      {items.data?.nextCursor && <p class="muted">The {items.data.items.length} most confident are shown.</p>}
    </section>
  );
}
