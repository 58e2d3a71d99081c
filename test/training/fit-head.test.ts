import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EpochRecord } from "../../src/jobs/schemas.js";
import { learningRateAt, shouldStopEarly } from "../../src/training/fit-head.js";

const epochs = (valLoss: number[]): EpochRecord[] =>
  valLoss.map((v, i) => ({ epoch: i + 1, loss: 1, accuracy: 0.5, valLoss: v, valAccuracy: 0.5, seconds: 1 }));

describe("fit-head schedule and early stopping", () => {
  it("decays the learning rate along a cosine from lr at epoch 1", () => {
    assert.equal(learningRateAt("cosine", 0.001, 1, 10), 0.001);
    assert.ok(Math.abs(learningRateAt("cosine", 0.001, 6, 10) - 0.0005) < 1e-12);
    assert.ok(learningRateAt("cosine", 0.001, 10, 10) < 0.00003);
    assert.equal(learningRateAt("constant", 0.001, 10, 10), 0.001);
  });

  it("stops when validation loss has not improved by minDelta for `patience` epochs", () => {
    const es = { patience: 2, minDelta: 0.01 };
    assert.equal(shouldStopEarly(epochs([0.5, 0.4, 0.395, 0.41]), es), true);
    assert.equal(shouldStopEarly(epochs([0.5, 0.4, 0.38, 0.41]), es), false);
    assert.equal(shouldStopEarly(epochs([0.5, 0.6]), es), false, "not before patience epochs");
    assert.equal(shouldStopEarly(epochs([0.5, 0.6, 0.7]), null), false);
  });
});
