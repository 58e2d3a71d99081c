/**
 * Class weights on real images: Fashion-MNIST's four upper-body classes (t-shirt/top, pullover, coat,
 * shirt), with 10% as many training shirts as each of the others, features from the built-in backbone.
 * `balanced` weights must raise the shirts' recall without lowering macro F1.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { extractFeatures } from "../../src/backbones/extractor.js";
import { Rng } from "../../src/lib/rng.js";
import { resolveClassWeights } from "../../src/training/class-weights.js";
import { HeadTrainer } from "../../src/training/head.js";
import { classificationReport } from "../../src/training/metrics.js";
import { featureStats, standardizeInPlace } from "../../src/training/standardize.js";
import { builtinBackboneForTests, fashionMnistPngs } from "../helpers/fashion-mnist.js";

const LABELS = [0, 2, 4, 6];
const CLASSES = ["t-shirt_top", "pullover", "coat", "shirt"];
const backbone = builtinBackboneForTests("cw-real-");

async function rows(split: "train" | "t10k", counts: Record<number, number>) {
  const items = await fashionMnistPngs(split, counts);
  const out = await extractFeatures(
    items.map((i) => i.png),
    await backbone.load(),
  );
  assert.equal(out.errors.length, 0);
  return { x: out.features, y: Int32Array.from(items, (i) => LABELS.indexOf(i.label)) };
}

test("balanced class weights raise a rare class's recall without lowering macro F1", async (t) => {
  const train = await rows("train", { 0: 150, 2: 150, 4: 150, 6: 15 });
  const test = await rows("t10k", { 0: 100, 2: 100, 4: 100, 6: 100 });
  const dim = train.x.length / train.y.length;
  const stats = featureStats(train.x, dim);
  standardizeInPlace(train.x, stats);
  standardizeInPlace(test.x, stats);
  const fit = async (weights: "none" | "balanced") => {
    const head = await HeadTrainer.create({
      inputDim: dim,
      classes: 4,
      hiddenUnits: 64,
      dropout: 0.2,
      learningRate: 0.001,
      seed: 3,
      classWeights: resolveClassWeights(weights, CLASSES, train.y),
    });
    try {
      const rng = new Rng(3);
      for (let e = 0; e < 3; e++) await head.trainEpoch(train.x, train.y, { batchSize: 32, rng });
      return classificationReport(test.y, head.evaluate(test.x, test.y).predicted, CLASSES);
    } finally {
      head.dispose();
    }
  };
  const plain = await fit("none");
  const balanced = await fit("balanced");
  t.diagnostic(
    `shirt recall ${plain.perClass.shirt.recall} -> ${balanced.perClass.shirt.recall}, macro F1 ${plain.macroF1.toFixed(4)} -> ${balanced.macroF1.toFixed(4)}`,
  );
  assert.ok(
    balanced.perClass.shirt.recall > plain.perClass.shirt.recall + 0.1,
    `shirt recall ${plain.perClass.shirt.recall} -> ${balanced.perClass.shirt.recall}`,
  );
  assert.ok(balanced.macroF1 >= plain.macroF1, `macro F1 ${plain.macroF1} -> ${balanced.macroF1}`);
});
