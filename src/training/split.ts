import type { DatasetItem, DatasetItems } from "../datasets/schemas.js";
import { Rng } from "../lib/rng.js";

/** Where a job's validation data comes from. */
export type ValidationSource = "val" | "validationSplit" | "none";

/** Training, validation and test items of a job. */
export interface JobSplit {
  train: DatasetItem[];
  /** Steers training: early stopping, epoch and sweep choice, calibration, the unknown threshold. */
  val: DatasetItem[];
  /** Evaluated once, at the end; never steers anything. */
  test: DatasetItem[];
  valSource: ValidationSource;
}

/**
 * Splits a dataset as API.md's evaluation protocol says: validation is the dataset's `val` split, else a
 * stratified, seeded `validationSplit` fraction of `train` (so a resumed job gets the same split); the
 * `test` split is only ever returned as `test`.
 */
export function splitForJob(items: DatasetItems, validationSplit: number, seed: number): JobSplit {
  const test = items.test ?? [];
  if (items.val && items.val.length > 0)
    return { train: items.train, val: items.val, test, valSource: "val" };
  if (validationSplit <= 0) return { train: items.train, val: [], test, valSource: "none" };
  const byClass = new Map<string, DatasetItem[]>();
  for (const item of items.train) {
    const list = byClass.get(item.label) ?? [];
    list.push(item);
    byClass.set(item.label, list);
  }
  const rng = new Rng(seed ^ 0x5eed);
  const train: DatasetItem[] = [];
  const val: DatasetItem[] = [];
  for (const label of [...byClass.keys()].sort()) {
    const list = rng.shuffle([...byClass.get(label)!]);
    const k =
      list.length >= 2
        ? Math.min(list.length - 1, Math.max(1, Math.round(list.length * validationSplit)))
        : 0;
    val.push(...list.slice(0, k));
    train.push(...list.slice(k));
  }
  return { train, val, test, valSource: "validationSplit" };
}
