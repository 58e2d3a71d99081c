import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "../../src/errors.js";
import type { TrainParams } from "../../src/jobs/schemas.js";
import { sweepConfigs, sweptParams } from "../../src/training/sweep.js";

const base: TrainParams = {
  datasetId: "ds_x",
  backbone: "mobilenet_v2",
  epochs: 10,
  batchSize: 256,
  learningRate: 0.001,
  hiddenUnits: 256,
  dropout: 0.2,
  augment: false,
  augmentViews: 5,
  validationSplit: 0.1,
  seed: 1,
  earlyStopping: { patience: 3, minDelta: 0.001 },
  lrSchedule: "cosine",
  labelSmoothing: 0,
  classWeights: "none",
};

describe("sweepConfigs", () => {
  it("is the job's own parameters without a sweep", () => {
    const configs = sweepConfigs(base);
    assert.equal(configs.length, 1);
    assert.deepEqual(configs[0], {
      learningRate: 0.001,
      hiddenUnits: 256,
      dropout: 0.2,
      epochs: 10,
      batchSize: 256,
      labelSmoothing: 0,
    });
    assert.deepEqual(sweptParams(base, configs[0]), {});
  });

  it("trains every combination once, the first key varying slowest, others from the job", () => {
    const params = {
      ...base,
      sweep: { learningRate: [0.001, 0.003, 0.001], hiddenUnits: [128, 512], dropout: [0, 0.5] },
    };
    const configs = sweepConfigs(params);
    assert.equal(configs.length, 8, "duplicate values count once");
    assert.deepEqual(
      configs.map((c) => [c.learningRate, c.hiddenUnits, c.dropout]),
      [
        [0.001, 128, 0],
        [0.001, 128, 0.5],
        [0.001, 512, 0],
        [0.001, 512, 0.5],
        [0.003, 128, 0],
        [0.003, 128, 0.5],
        [0.003, 512, 0],
        [0.003, 512, 0.5],
      ],
    );
    assert.ok(configs.every((c) => c.epochs === 10 && c.batchSize === 256));
    assert.deepEqual(sweptParams(params, configs[5]), {
      learningRate: 0.003,
      hiddenUnits: 128,
      dropout: 0.5,
    });
  });

  it("refuses more than 64 combinations with a 422", () => {
    const sweep = { learningRate: [1, 2, 3, 4, 5], hiddenUnits: [1, 2, 3, 4], dropout: [0, 0.1, 0.2, 0.3] };
    assert.throws(
      () => sweepConfigs({ ...base, sweep }),
      (e: unknown) => e instanceof AppError && e.statusCode === 422 && e.code === "SWEEP_TOO_LARGE",
    );
  });
});
