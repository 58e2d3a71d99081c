import { describeError } from "../api/client";

/** An error message, announced to screen readers. */
export function ErrorNotice({ error, prefix }: { error: unknown; prefix?: string }) {
  if (!error) return null;
  return (
    <p class="notice error" role="alert">
      {prefix ? `${prefix}: ` : ""}
      {describeError(error)}
    </p>
  );
}

/** A state as a coloured badge (`ready`, `running`, `failed`...). */
export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

/** A loading line for a page or section. */
export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" aria-busy="true">
      Loading {what}…
    </p>
  );
}
