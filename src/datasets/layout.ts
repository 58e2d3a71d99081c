import { BadRequestError } from "../errors.js";

/** One labelled image: its path as given (relative, `/`-separated) and its class. */
export interface Item {
  path: string;
  label: string;
}

/** The items of each split; `val` and `test` only when the dataset has them. */
export interface Splits {
  train: Item[];
  val?: Item[];
  test?: Item[];
}

/** A detected dataset: sorted class names, labelled items per split, and the paths that were not used. */
export interface DatasetLayout {
  classes: string[];
  splits: Splits;
  ignored: string[];
  /** Classes whose names differ only in letter case (e.g. `Cat` and `cat`), each group sorted. */
  caseCollisions: string[][];
}

/** Longest class name, in characters after NFC normalization. */
export const MAX_CLASS_NAME = 100;

type SplitName = keyof Splits;

const IMAGE_EXTENSION = /\.(jpe?g|png|webp|gif|tiff?)$/i;
const SPLIT_ALIASES = new Map<string, SplitName>([
  ["train", "train"],
  ["val", "val"],
  ["valid", "val"],
  ["validation", "val"],
  ["test", "test"],
]);

/**
 * Finds the classes and splits of an unpacked dataset from its relative file paths. Accepted layouts,
 * optionally inside one wrapping folder (a first segment shared by every image that is neither a split
 * nor the class layer): `train/<class>/...` with optional `val/` (or `valid/`, `validation/`) and
 * `test/` alongside, split names matched case-insensitively; or `<class>/...`, everything being train.
 * Files deeper inside a class folder belong to that class. Files that are not images (jpg, jpeg, png,
 * webp, gif, tif, tiff), sit at the root or directly in a split folder, or are outside the splits of a
 * split layout go to `ignored`.
 *
 * @throws BadRequestError `INVALID_DATASET` for no class, fewer than 2 classes, or a class without an
 *   image in train (see {@link assertUsableClasses}).
 */
export function detectLayout(files: string[]): DatasetLayout {
  const ignored: string[] = [];
  const images: { path: string; segments: string[] }[] = [];
  for (const file of files) {
    if (IMAGE_EXTENSION.test(file)) images.push({ path: file, segments: file.split("/").filter(Boolean) });
    else ignored.push(file);
  }

  const skip = wrapperDepth(images.map((image) => image.segments));
  const bySplit: Record<SplitName, Item[]> = { train: [], val: [], test: [] };
  const splitMode = images.some((image) => splitOf(image.segments[skip]) !== undefined);
  for (const { path, segments } of images) {
    const rest = segments.slice(skip);
    const split: SplitName | undefined = splitMode ? splitOf(rest[0]) : "train";
    const labelled = splitMode ? rest.slice(1) : rest;
    if (split === undefined || labelled.length < 2) ignored.push(path);
    else bySplit[split].push({ path, label: className(labelled[0]) });
  }

  const all = [...bySplit.train, ...bySplit.val, ...bySplit.test];
  const classes = [...new Set(all.map((item) => item.label))].sort(compare);
  assertUsableClasses(classes, bySplit.train);

  const splits: Splits = { train: bySplit.train };
  if (bySplit.val.length > 0) splits.val = bySplit.val;
  if (bySplit.test.length > 0) splits.test = bySplit.test;
  return { classes, splits, ignored, caseCollisions: caseCollisions(classes) };
}

/**
 * A class name from its folder name: Unicode NFC (so "café" typed either way is one class).
 *
 * @throws BadRequestError `INVALID_CLASS_NAME` for control characters or more than MAX_CLASS_NAME characters.
 */
export function className(folder: string): string {
  const name = folder.normalize("NFC");
  if (/\p{Cc}/u.test(name)) {
    throw new BadRequestError(
      `class folder ${JSON.stringify(name.slice(0, 60))} contains control characters`,
      "INVALID_CLASS_NAME",
    );
  }
  if ([...name].length > MAX_CLASS_NAME) {
    throw new BadRequestError(
      `class folder ${JSON.stringify(`${name.slice(0, 40)}...`)} is longer than ${MAX_CLASS_NAME} characters`,
      "INVALID_CLASS_NAME",
    );
  }
  return name;
}

function caseCollisions(classes: string[]): string[][] {
  const byFolded = new Map<string, string[]>();
  for (const c of classes) {
    const key = c.toLowerCase();
    byFolded.set(key, [...(byFolded.get(key) ?? []), c]);
  }
  return [...byFolded.values()].filter((group) => group.length > 1);
}

/**
 * Checks that there are at least 2 classes and that each has at least one image in `trainItems`; meant
 * to be called again after unusable images were dropped from the training items.
 *
 * @throws BadRequestError `INVALID_DATASET` naming what is missing.
 */
export function assertUsableClasses(classes: readonly string[], trainItems: readonly Item[]): void {
  if (classes.length === 0) {
    throw invalid(
      "no class found: expected images in <class>/<image> or train/<class>/<image> folders " +
        "(optionally inside one wrapping folder)",
    );
  }
  if (classes.length < 2) {
    throw invalid(`only one class found (${JSON.stringify(classes[0])}): at least 2 classes are needed`);
  }
  const trained = new Set(trainItems.map((item) => item.label));
  const empty = classes.filter((name) => !trained.has(name));
  if (empty.length > 0) {
    const names = empty.map((name) => JSON.stringify(name)).join(", ");
    throw invalid(`${empty.length === 1 ? "class" : "classes"} ${names} without any usable image in train`);
  }
}

/** Number of items per label, keys sorted; a label that has no item does not appear. */
export function countPerClass(items: readonly Item[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const { label } of items) counts.set(label, (counts.get(label) ?? 0) + 1);
  return Object.fromEntries([...counts].sort(([a], [b]) => compare(a, b)));
}

/** 1 when every image shares a first folder that is neither a split nor the class layer, else 0. */
function wrapperDepth(paths: string[][]): number {
  if (paths.length === 0) return 0;
  const first = paths[0][0];
  const shared = paths.every((segments) => segments.length > 1 && segments[0] === first);
  if (!shared || splitOf(first) !== undefined) return 0;
  return paths.some((segments) => segments.length > 2) ? 1 : 0;
}

/** Whether a path has an image file extension (jpg, jpeg, png, webp, gif, tif, tiff). */
export function isImagePath(file: string): boolean {
  return IMAGE_EXTENSION.test(file);
}

function splitOf(segment: string | undefined): SplitName | undefined {
  return segment === undefined ? undefined : SPLIT_ALIASES.get(segment.toLowerCase());
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function invalid(message: string): BadRequestError {
  return new BadRequestError(message, "INVALID_DATASET");
}
