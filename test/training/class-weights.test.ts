import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "../../src/errors.js";
import { checkClassWeights, resolveClassWeights } from "../../src/training/class-weights.js";

describe("class weights", () => {
  const classes = ["cat", "dog", "fox"];
  const labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2];

  it("balanced is n / (classes * n_class), like scikit-learn", () => {
    const w = resolveClassWeights("balanced", classes, labels)!;
    assert.deepEqual(
      [...w].map((v) => Number(v.toFixed(4))),
      [0.5556, 1.1111, 3.3333],
    );
    const weighted = [...labels].reduce((s, c) => s + w[c], 0);
    assert.ok(Math.abs(weighted - labels.length) < 1e-4, "the weighted count equals the count");
  });

  it("none is no weights; a map weighs missing classes 1", () => {
    assert.equal(resolveClassWeights("none", classes, labels), undefined);
    assert.deepEqual([...resolveClassWeights({ fox: 4 }, classes, labels)!], [1, 1, 4]);
  });

  it("refuses classes the dataset does not have with a 422 naming them", () => {
    assert.doesNotThrow(() => checkClassWeights({ dog: 2 }, classes));
    assert.doesNotThrow(() => checkClassWeights("balanced", classes));
    assert.throws(
      () => checkClassWeights({ dog: 2, wolf: 3 }, classes),
      (e: unknown) => e instanceof AppError && e.statusCode === 422 && /wolf/.test(e.message),
    );
  });
});
