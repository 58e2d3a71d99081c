/** A labelled progress bar (`<progress>`), with the percentage as text beside it. */
export function ProgressBar({ value, label }: { value: number | undefined; label: string }) {
  const pct = value === undefined ? undefined : Math.max(0, Math.min(100, value));
  return (
    <div class="progress">
      <progress max={100} value={pct} aria-label={label} />
      <span class="progress-text">{pct === undefined ? "…" : `${pct.toFixed(0)}%`}</span>
    </div>
  );
}
