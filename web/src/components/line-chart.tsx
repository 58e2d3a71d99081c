import { ticks } from "./chart-ticks";

/** One line of a chart: a value per x (undefined: no point). */
export interface Series {
  name: string;
  /** A CSS class that colours the line (`series-a`, `series-b`). */
  class: string;
  values: (number | undefined)[];
  dashed?: boolean;
}

const W = 560;
const H = 250;
const PAD = { left: 60, right: 14, top: 24, bottom: 42 };

/**
 * A line chart drawn as SVG: x = 1..n (epochs), one polyline and dots per series, axes with round ticks,
 * and a legend. `role="img"` with a summary label; pages put a table with the same numbers beside it.
 * `data-points` holds the number of x values drawn.
 */
export function LineChart({
  title,
  series,
  yLabel,
  yDomain,
  xMax: xPlanned = 0,
  format = (v) => String(v),
}: {
  title: string;
  series: Series[];
  yLabel: string;
  yDomain?: [number, number];
  /** The x axis runs to at least this (the planned epochs), so a running job's curve grows across it. */
  xMax?: number;
  format?: (v: number) => string;
}) {
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const all = series.flatMap((s) =>
    s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)),
  );
  let [lo, hi] = yDomain ?? [Math.min(0, ...all), Math.max(...all, 0)];
  if (!yDomain && all.length > 0) hi = hi === lo ? lo + 1 : hi + (hi - lo) * 0.05;
  if (!(hi > lo)) hi = lo + 1;
  const xMax = Math.max(n, xPlanned, 2);
  const x = (i: number) => PAD.left + ((i - 1) / (xMax - 1)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const xTicks = ticks(1, xMax, Math.min(8, xMax - 1)).filter((t) => Number.isInteger(t));
  const yTicks = ticks(lo, hi, 4);
  const last = series
    .map((s) => {
      const v = s.values[s.values.length - 1];
      return v === undefined ? undefined : `${s.name} ${format(v)}`;
    })
    .filter(Boolean)
    .join(", ");
  const label = n === 0 ? `${title}: no epoch yet` : `${title} over ${n} epochs; last: ${last}`;

  return (
    <figure class="chart" data-points={n}>
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} preserveAspectRatio="xMidYMid meet">
        <title>{label}</title>
        {yTicks.map((t) => (
          <g key={`y${t}`} class="tick">
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} class="grid" />
            <text x={PAD.left - 6} y={y(t)} text-anchor="end" dominant-baseline="middle">
              {format(t)}
            </text>
          </g>
        ))}
        {xTicks.map((t) => (
          <text key={`x${t}`} class="tick" x={x(t)} y={H - PAD.bottom + 16} text-anchor="middle">
            {t}
          </text>
        ))}
        <text class="axis-label" x={(W + PAD.left) / 2} y={H - 2} text-anchor="middle">
          epoch
        </text>
        <text class="axis-label" x={4} y={12} text-anchor="start">
          {yLabel}
        </text>
        <line class="axis" x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={H - PAD.bottom} />
        <line class="axis" x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} />
        {series.map((s) => {
          const pts = s.values
            .map((v, i) => (v === undefined || !Number.isFinite(v) ? undefined : ([x(i + 1), y(v)] as const)))
            .filter((p): p is readonly [number, number] => p !== undefined);
          return (
            <g key={s.name} class={`series ${s.class}${s.dashed ? " dashed" : ""}`}>
              <polyline points={pts.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ")} />
              {pts.length <= 60 &&
                pts.map(([px, py]) => <circle key={`${px}`} cx={px.toFixed(1)} cy={py.toFixed(1)} r={2.5} />)}
            </g>
          );
        })}
      </svg>
      <ul class="legend" aria-hidden="true">
        {series.map((s) => (
          <li key={s.name} class={`${s.class}${s.dashed ? " dashed" : ""}`}>
            <span class="swatch" />
            {s.name}
          </li>
        ))}
      </ul>
    </figure>
  );
}
