import type { DatasetItem, DatasetItems } from "../datasets/schemas.js";
import { Rng } from "../lib/rng.js";

/** Training and validation items of a job, and where the validation items came from. */
export interface JobSplit {
  train: DatasetItem[];
  val: DatasetItem[];
  /** "val", "test", "validationSplit" or "none". */
  valSource: string;
}

/**
 * Picks validation data as API.md says: the dataset's val split, else its test split, else a stratified
 * `validationSplit` fraction of train (seeded, so a resumed job gets the same split).
 */
export function splitForJob(items: DatasetItems, validationSplit: number, seed: number): JobSplit {
  if (items.val && items.val.length > 0) return { train: items.train, val: items.val, valSource: "val" };
  if (items.test && items.test.length > 0) return { train: items.train, val: items.test, valSource: "test" };
  if (validationSplit <= 0) return { train: items.train, val: [], valSource: "none" };
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
  return { train, val, valSource: "validationSplit" };
}
