/**
 * The unknown rule on real held-out inputs: class statistics of built-in-backbone features of Fashion-MNIST
 * training images, the threshold at 5% of validation images, then the photos of assets/photos/natural
 * (none of them clothing) and unseen Fashion-MNIST test images.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { extractFeatures } from "../../src/backbones/extractor.js";
import { fitOpenSet, OPEN_SET_REJECT_RATE } from "../../src/training/evaluate.js";
import { fitClassGaussians, mahalanobisScores } from "../../src/training/open-set.js";
import { builtinBackboneForTests, fashionMnistPngs } from "../helpers/fashion-mnist.js";

const NATURAL = path.join(import.meta.dirname, "..", "..", "assets", "photos", "natural");
const ALL = Object.fromEntries(Array.from({ length: 10 }, (_, c) => [c, 0]));
const backbone = builtinBackboneForTests("open-set-real-");

async function features(images: Buffer[]): Promise<Float32Array> {
  const out = await extractFeatures(images, await backbone.load());
  assert.equal(out.errors.length, 0, JSON.stringify(out.errors[0]));
  return out.features;
}

test("natural photos are unknown to a Fashion-MNIST model, its own test images are not", async (t) => {
  const train = await fashionMnistPngs("train", Object.fromEntries(Object.keys(ALL).map((c) => [c, 80])));
  const fit = train.filter((_, i) => i % 5 !== 0);
  const val = train.filter((_, i) => i % 5 === 0);
  const testImages = await fashionMnistPngs("t10k", Object.fromEntries(Object.keys(ALL).map((c) => [c, 30])));
  const files = (await readdir(NATURAL)).filter((f) => f.endsWith(".jpg"));
  const photos = await Promise.all(files.map((f) => readFile(path.join(NATURAL, f))));
  const dim = (await backbone.load()).manifest.featureDim;

  const gaussians = fitClassGaussians(
    await features(fit.map((i) => i.png)),
    fit.map((i) => i.label),
    dim,
    10,
    { kind: "diag" },
  );
  const valScores = mahalanobisScores(gaussians, await features(val.map((i) => i.png)), val.length);
  const rule = fitOpenSet(valScores)!;
  assert.ok(Math.abs(rule.validationRejectRate - OPEN_SET_REJECT_RATE) < 0.02, JSON.stringify(rule));
  const share = async (images: Buffer[]) => {
    const scores = mahalanobisScores(gaussians, await features(images), images.length);
    return scores.filter((s) => s > rule.threshold).length / images.length;
  };
  const natural = await share(photos);
  const heldOut = await share(testImages.map((i) => i.png));
  t.diagnostic(
    `unknown: share ${natural} of ${photos.length} natural photos, ${heldOut} of ${testImages.length} test images`,
  );
  assert.ok(photos.length >= 40);
  assert.ok(natural >= 0.9, `natural photos called unknown: ${natural}`);
  assert.ok(heldOut <= 0.1, `Fashion-MNIST test images called unknown: ${heldOut}`);
});
