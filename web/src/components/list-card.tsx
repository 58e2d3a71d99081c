import type { ComponentChildren } from "preact";
import type { Page } from "../api/types";
import type { Resource } from "../lib/use-resource";
import { ErrorNotice, Loading } from "./notice";

/** Props of {@link ListCard}. */
export interface ListCardProps<T> {
  /** Id of the card's heading (its `aria-labelledby`). */
  id: string;
  title: string;
  /** What is listed, for the loading line ("datasets"). */
  what: string;
  list: Resource<Page<T>>;
  /** Shown when the list is empty. */
  empty: ComponentChildren;
  /** `data-testid` of the table. */
  testId: string;
  /** The header cells (`<th scope="col">`). */
  head: ComponentChildren;
  /** One `<tr>` per item. */
  row: (item: T) => ComponentChildren;
}

/** A card listing a collection: its load error, a loading line, an empty message, or the table of items. */
export function ListCard<T>({ id, title, what, list, empty, testId, head, row }: ListCardProps<T>) {
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <ErrorNotice error={list.error} />
      {!list.data && !list.error && <Loading what={what} />}
      {list.data && list.data.items.length === 0 && empty}
      {list.data && list.data.items.length > 0 && (
        <div class="table-wrap">
          <table data-testid={testId}>
            <thead>
              <tr>{head}</tr>
            </thead>
            <tbody>{list.data.items.map(row)}</tbody>
          </table>
        </div>
      )}
    </section>
  );
}
