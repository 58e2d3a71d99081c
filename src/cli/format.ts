/** Colour functions; identity functions when colours are off. */
export interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const ansi = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

/** ANSI colours when `on`, else plain text. */
export function paint(on: boolean): Paint {
  const id = (s: string) => s;
  return on
    ? {
        bold: ansi(1, 22),
        dim: ansi(2, 22),
        red: ansi(31, 39),
        green: ansi(32, 39),
        yellow: ansi(33, 39),
        cyan: ansi(36, 39),
      }
    : { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };
}

/** A state word coloured by how it went: green done, red failed, yellow cancelled or waiting. */
export function paintState(p: Paint, state: string): string {
  if (state === "ready" || state === "completed") return p.green(state);
  if (state === "failed") return p.red(state);
  if (state === "cancelled") return p.yellow(state);
  return p.cyan(state);
}

/** `1.5 MB`, `512 B`: decimal units, as download tools show them. */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** `1m05s`, `42s`, `1h02m`; `-` when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "-";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A number with `digits` decimals, or `-` when absent. */
export function fixed(v: number | null | undefined, digits = 4): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "-";
}

/** A fraction as a percentage (`0.9731` → `97.3%`), or `-`. */
export function percent(v: number | null | undefined): string {
  return typeof v === "number" && Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : "-";
}

/** `1 image`, `3 images`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

// Escape sequences (CSI) do not take room on the screen.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const ANSI_RE = /\x1b\[[0-9;]*m/g;

/** Length of `s` on the screen (ANSI colours left out). */
export function visibleLength(s: string): number {
  return s.replace(ANSI_RE, "").length;
}

/** A column of a table: header, and whether values align right (numbers). */
export interface Column {
  header: string;
  right?: boolean;
}

/** Pads a row of cells to the given widths (two spaces between columns, no trailing blanks). */
export function row(cells: string[], widths: number[], columns: Column[]): string {
  return cells
    .map((c, i) => {
      const pad = " ".repeat(Math.max(0, widths[i] - visibleLength(c)));
      return columns[i]?.right ? pad + c : i === cells.length - 1 ? c : c + pad;
    })
    .join("  ");
}

/** A table as lines: a header and the rows, columns as wide as their widest cell. */
export function table(columns: Column[], rows: string[][], p?: Paint): string[] {
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...rows.map((r) => visibleLength(r[i] ?? ""))),
  );
  const header = row(
    columns.map((c) => c.header),
    widths,
    columns,
  );
  return [p ? p.bold(header) : header, ...rows.map((r) => row(r, widths, columns))];
}

/** `2024-05-01 12:03` in local time, from an ISO time; the input when it is not one. */
export function shortTime(iso: string | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}
