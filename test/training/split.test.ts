import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DatasetItem } from "../../src/datasets/schemas.js";
import { splitForJob } from "../../src/training/split.js";

const items = (split: string, perClass: number, classes = ["a", "b"]): DatasetItem[] =>
  classes.flatMap((c) =>
    Array.from({ length: perClass }, (_, i) => ({ path: `${split}/${c}/${i}.png`, label: c })),
  );

describe("splitForJob (evaluation protocol)", () => {
  it("validates on a stratified, seeded part of train when there is no val split, never on test", () => {
    const data = { train: items("train", 50), test: items("test", 10) };
    const s = splitForJob(data, 0.2, 3);
    assert.equal(s.valSource, "validationSplit");
    assert.equal(s.val.length, 20);
    assert.equal(s.val.filter((i) => i.label === "a").length, 10, "stratified");
    assert.ok(
      s.val.every((i) => i.path.startsWith("train/")),
      "validation comes from train only",
    );
    assert.equal(s.train.length + s.val.length, 100);
    assert.deepEqual(s.test, data.test, "test is returned as test, untouched");
    assert.deepEqual(splitForJob(data, 0.2, 3).val, s.val, "the same seed gives the same split");
    assert.notDeepEqual(splitForJob(data, 0.2, 4).val, s.val);
  });

  it("uses the val split when the dataset has one", () => {
    const data = { train: items("train", 20), val: items("val", 5), test: items("test", 5) };
    const s = splitForJob(data, 0.2, 1);
    assert.equal(s.valSource, "val");
    assert.deepEqual(s.val, data.val);
    assert.deepEqual(s.train, data.train);
    assert.deepEqual(s.test, data.test);
  });

  it("has no validation with validationSplit 0 and no val split, even with a test split", () => {
    const s = splitForJob({ train: items("train", 5), test: items("test", 5) }, 0, 1);
    assert.equal(s.valSource, "none");
    assert.equal(s.val.length, 0);
    assert.equal(s.test.length, 10);
  });
});
