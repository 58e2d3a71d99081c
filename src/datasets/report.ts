/**
 * The dataset report (`GET /v1/datasets/:id/report`) from the signatures of the decoded images: exact and
 * near duplicates, train/eval leaks, label conflicts, class imbalance and rejected files.
 */
import Type, { type Static } from "typebox";
import { findNearPairs, type NearPair } from "./near-search.js";
import type { ImageSignature } from "./signature.js";

export { findNearPairs, type NearPair, SEARCH_HAMMING, symmetricEigen } from "./near-search.js";

/**
 * Largest `nearDistance` (RMS gray-level difference of 16x16 thumbnails) of a near-duplicate pair, chosen on
 * the 70,000 Fashion-MNIST images and 58 photos (scripts/experiment-near-duplicates.ts): JPEG-75 copies are
 * 0.3-3 apart, copies resized to 80% 0.2-13 (Fashion-MNIST median 5.2), photos with 4-6% cut off each edge
 * 0.8-10.5; Fashion-MNIST look-alikes (different items of one class) crowd in from about 7, so that at 8 they
 * flag 0.6% of its images, at 10 2.8%. 28x28 items cropped by 1-2 pixels and resized back are mostly missed
 * (median 22): at that size the shift is as large as the gap between two items of a class.
 */
export const NEAR_MAX_DISTANCE = 8;

/** One decoded image of a dataset. */
export interface ReportEntry {
  path: string;
  split: "train" | "val" | "test";
  label: string;
  sig: ImageSignature;
}

const Paths = Type.Array(Type.String());

/** The report as the API shows it. */
export const DatasetReportSchema = Type.Object(
  {
    exactDuplicates: Type.Array(Type.Object({ paths: Paths }), {
      description: "Groups of images with the same decoded pixels, whatever the encoding",
    }),
    nearDuplicates: Type.Array(Type.Object({ paths: Paths, distance: Type.Number({ minimum: 0 }) }), {
      description:
        "Pairs of images (one per exact group) that are the same picture re-encoded, resized or lightly " +
        "cropped; distance = RMS gray-level difference of 16x16 thumbnails",
    }),
    leaks: Type.Array(
      Type.Object({ train: Type.String(), other: Type.String(), kind: Type.Enum(["exact", "near"]) }),
      { description: "One per val/test image that has an exact or near duplicate in train" },
    ),
    conflicts: Type.Array(Type.Object({ paths: Paths, labels: Paths }), {
      description: "Exact groups whose images have more than one label; labels[i] is the label of paths[i]",
    }),
    imbalance: Type.Object({ largest: Type.String(), smallest: Type.String(), ratio: Type.Number() }),
    rejected: Type.Array(Type.Object({ path: Type.String(), reason: Type.String() })),
    classNameCollisions: Type.Array(Type.Array(Type.String()), {
      description: "Classes whose names differ only in letter case (e.g. Cat and cat): probably one class",
    }),
  },
  { title: "DatasetReport" },
);
export type DatasetReport = Static<typeof DatasetReportSchema>;

/** The counts shown in a dataset's `summary`. */
export const DatasetReportSummarySchema = Type.Object(
  {
    exactDuplicates: Type.Integer({ description: "Exact duplicate groups" }),
    nearDuplicates: Type.Integer({ description: "Near duplicate pairs" }),
    leaks: Type.Integer({ description: "val/test images with a duplicate in train" }),
    conflicts: Type.Integer({ description: "Exact groups under more than one label" }),
    imbalanceRatio: Type.Number({ description: "Largest over smallest class size in train" }),
  },
  { title: "DatasetReportSummary" },
);
export type DatasetReportSummary = Static<typeof DatasetReportSummarySchema>;

/** Threshold of the near-duplicate search (default `NEAR_MAX_DISTANCE`). */
export interface ReportOptions {
  maxDistance?: number;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The report of a dataset. Definitions (paths sorted in code-point order everywhere):
 * - exact duplicate group: >= 2 entries with the same `sig.exact` (same decoded pixels), paths sorted;
 *   groups sorted by first path;
 * - conflict: an exact group whose entries carry more than one label (`labels[i]` is `paths[i]`'s label);
 * - near duplicate: a pair of distinct exact groups, each shown by its first path, whose `nearDistance` is at
 *   most `maxDistance`; never a pair with the same pixels; sorted by paths;
 * - leak: one per val/test entry that has a duplicate in train: `exact` when its exact group holds a train
 *   entry (the first such path), else `near` with the train entry (first path of the group) of its nearest
 *   near-duplicate group that holds one; sorted by train then other path. Exact and near leaks also stand in
 *   `exactDuplicates` / `nearDuplicates`;
 * - imbalance: the largest and smallest classes of train (ties: first name), ratio of their sizes rounded to
 *   two decimals (`""`, `""`, 1 when train is empty).
 */
export function buildReport(
  entries: ReportEntry[],
  rejected: { path: string; reason: string }[],
  options: ReportOptions = {},
): DatasetReport {
  const sorted = [...entries].sort((a, b) => byString(a.path, b.path));
  const groupOfExact = new Map<string, number>();
  const groups: number[][] = [];
  const groupOf = new Int32Array(sorted.length);
  sorted.forEach((e, i) => {
    let g = groupOfExact.get(e.sig.exact);
    if (g === undefined) {
      g = groups.length;
      groupOfExact.set(e.sig.exact, g);
      groups.push([]);
    }
    groups[g].push(i);
    groupOf[i] = g;
  });
  const pathOf = (i: number) => sorted[i].path;
  const multi = groups.filter((g) => g.length > 1);
  const exactDuplicates = multi.map((g) => ({ paths: g.map(pathOf) }));
  const conflicts = multi
    .filter((g) => new Set(g.map((i) => sorted[i].label)).size > 1)
    .map((g) => ({ paths: g.map(pathOf), labels: g.map((i) => sorted[i].label) }));

  const near = findNearPairs(
    groups.map((g) => sorted[g[0]].sig.near),
    options.maxDistance ?? NEAR_MAX_DISTANCE,
  );
  const round2 = (x: number) => Math.round(x * 100) / 100;
  const nearDuplicates = near.map((p) => ({
    paths: [pathOf(groups[p.a][0]), pathOf(groups[p.b][0])].sort(byString),
    distance: round2(p.distance),
  }));
  nearDuplicates.sort((x, y) => byString(x.paths[0], y.paths[0]) || byString(x.paths[1], y.paths[1]));

  const firstTrain = groups.map((g) => g.find((i) => sorted[i].split === "train") ?? -1);
  const neighbours: NearPair[][] = groups.map(() => []);
  for (const p of near) {
    neighbours[p.a].push(p);
    neighbours[p.b].push(p);
  }
  const leaks: DatasetReport["leaks"] = [];
  sorted.forEach((e, i) => {
    if (e.split === "train") return;
    const g = groupOf[i];
    if (firstTrain[g] >= 0) {
      leaks.push({ train: pathOf(firstTrain[g]), other: e.path, kind: "exact" });
      return;
    }
    let best = -1;
    let bestDistance = Number.POSITIVE_INFINITY;
    for (const p of neighbours[g]) {
      const h = p.a === g ? p.b : p.a;
      if (firstTrain[h] < 0) continue;
      const closer = p.distance < bestDistance;
      if (closer || (p.distance === bestDistance && firstTrain[h] < firstTrain[best])) {
        best = h;
        bestDistance = p.distance;
      }
    }
    if (best >= 0) leaks.push({ train: pathOf(firstTrain[best]), other: e.path, kind: "near" });
  });
  leaks.sort((x, y) => byString(x.train, y.train) || byString(x.other, y.other));

  return {
    exactDuplicates,
    nearDuplicates,
    leaks,
    conflicts,
    imbalance: imbalance(sorted),
    rejected: [...rejected].sort((a, b) => byString(a.path, b.path)),
    classNameCollisions: [],
  };
}

function imbalance(entries: ReportEntry[]): DatasetReport["imbalance"] {
  const counts = new Map<string, number>();
  for (const e of entries) if (e.split === "train") counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
  const classes = [...counts.keys()].sort(byString);
  if (classes.length === 0) return { largest: "", smallest: "", ratio: 1 };
  let largest = classes[0];
  let smallest = classes[0];
  for (const c of classes) {
    if (counts.get(c)! > counts.get(largest)!) largest = c;
    if (counts.get(c)! < counts.get(smallest)!) smallest = c;
  }
  const ratio = Math.round((counts.get(largest)! / counts.get(smallest)!) * 100) / 100;
  return { largest, smallest, ratio };
}

/** The counts of a report: exact groups, near pairs, leaks, conflicts, and the imbalance ratio. */
export function reportSummary(r: DatasetReport): DatasetReportSummary {
  return {
    exactDuplicates: r.exactDuplicates.length,
    nearDuplicates: r.nearDuplicates.length,
    leaks: r.leaks.length,
    conflicts: r.conflicts.length,
    imbalanceRatio: r.imbalance.ratio,
  };
}
