/** Formatting shared by the pages. */

/** `0.9731` -> `97.3%`. */
export function percent(x: number | undefined, digits = 1): string {
  return x === undefined || Number.isNaN(x) ? "–" : `${(x * 100).toFixed(digits)}%`;
}

/** A number with at most `digits` decimals (`–` when missing). */
export function num(x: number | undefined | null, digits = 3): string {
  if (x === undefined || x === null || Number.isNaN(x)) return "–";
  return Number.isInteger(x) ? String(x) : x.toFixed(digits).replace(/\.?0+$/, "");
}

/** `1536` -> `1.5 KB`. */
export function bytes(n: number | undefined): string {
  if (n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Seconds as `1 h 02 min`, `3 min 05 s` or `12 s`. */
export function duration(seconds: number | undefined | null): string {
  if (seconds === undefined || seconds === null || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600)
    return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

/** An ISO time as local date and time. */
export function when(iso: string | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** The last part of a path: `train/cat/1.jpg` -> `1.jpg`. */
export function basename(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}
