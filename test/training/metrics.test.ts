import assert from "node:assert/strict";
import { test } from "node:test";
import { classificationReport, topK } from "../../src/training/metrics.js";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

test("classificationReport matches hand-computed values", () => {
  // true:      cat cat cat dog dog bird bird bird bird
  // predicted: cat dog cat dog cat bird bird dog  cat
  const yTrue = [0, 0, 0, 1, 1, 2, 2, 2, 2];
  const yPred = new Int32Array([0, 1, 0, 1, 0, 2, 2, 1, 0]);
  const report = classificationReport(yTrue, yPred, ["cat", "dog", "bird"]);
  assert.deepEqual(report.confusionMatrix, [
    [2, 1, 0],
    [1, 1, 0],
    [1, 1, 2],
  ]);
  close(report.accuracy, 5 / 9);
  const { cat, dog, bird } = report.perClass;
  // cat: tp 2, predicted 4, support 3
  close(cat.precision, 2 / 4);
  close(cat.recall, 2 / 3);
  close(cat.f1, (2 * 0.5 * (2 / 3)) / (0.5 + 2 / 3));
  assert.equal(cat.support, 3);
  // dog: tp 1, predicted 3, support 2
  close(dog.precision, 1 / 3);
  close(dog.recall, 1 / 2);
  close(dog.f1, 0.4);
  assert.equal(dog.support, 2);
  // bird: tp 2, predicted 2, support 4
  close(bird.precision, 1);
  close(bird.recall, 0.5);
  close(bird.f1, 2 / 3);
  assert.equal(bird.support, 4);
});

test("undefined precision/recall are 0, not NaN", () => {
  const report = classificationReport([0, 0, 1], [0, 0, 0], ["a", "b", "c"]);
  assert.deepEqual(report.perClass.b, { precision: 0, recall: 0, f1: 0, support: 1 });
  assert.deepEqual(report.perClass.c, { precision: 0, recall: 0, f1: 0, support: 0 });
  close(report.perClass.a.precision, 2 / 3);
  assert.equal(report.perClass.a.recall, 1);
  const empty = classificationReport([], [], ["a", "b"]);
  assert.equal(empty.accuracy, 0);
  assert.deepEqual(empty.perClass.a, { precision: 0, recall: 0, f1: 0, support: 0 });
  assert.deepEqual(empty.confusionMatrix, [
    [0, 0],
    [0, 0],
  ]);
});

test("macroF1 averages per-class F1 over classes present or predicted", () => {
  // The hand-computed example above: F1 cat 4/7, dog 0.4, bird 2/3.
  const report = classificationReport(
    [0, 0, 0, 1, 1, 2, 2, 2, 2],
    [0, 1, 0, 1, 0, 2, 2, 1, 0],
    ["cat", "dog", "bird"],
  );
  close(report.macroF1, (4 / 7 + 0.4 + 2 / 3) / 3);
  // true [0, 0, 1], predicted [0, 0, 0] over a, b, c, d:
  // a: tp 2, predicted 3, support 2 -> precision 2/3, recall 1, F1 0.8
  // b: present, never predicted -> F1 0, counted
  // c: neither present nor predicted -> left out; d: likewise
  const sparse = classificationReport([0, 0, 1], [0, 0, 0], ["a", "b", "c", "d"]);
  close(sparse.macroF1, (0.8 + 0) / 2);
  // A class that is predicted but never present counts as 0.
  const extra = classificationReport([0, 0], [0, 1], ["a", "e", "f"]);
  // a: tp 1, predicted 1, support 2 -> precision 1, recall 1/2, F1 2/3; e: predicted once, F1 0
  close(extra.macroF1, (2 / 3 + 0) / 2);
  assert.equal(classificationReport([], [], ["a", "b"]).macroF1, 0);
  assert.equal(classificationReport([1, 1], [1, 1], ["a", "b"]).macroF1, 1);
});

test("classificationReport rejects bad input", () => {
  assert.throws(() => classificationReport([0, 1], [0], ["a", "b"]), RangeError);
  assert.throws(() => classificationReport([0, 2], [0, 1], ["a", "b"]), RangeError);
  assert.throws(() => classificationReport([0, -1], [0, 1], ["a", "b"]), RangeError);
  assert.throws(() => classificationReport([0, 0.5], [0, 1], ["a", "b"]), RangeError);
});

test("topK sorts by probability, breaks ties by index and clamps k", () => {
  const probs = new Float32Array([0.1, 0.4, 0.1, 0.25, 0.15]);
  const classes = ["a", "b", "c", "d", "e"];
  const top3 = topK(probs, classes, 3);
  assert.deepEqual(
    top3.map((t) => t.label),
    ["b", "d", "e"],
  );
  close(top3[0].probability, Math.fround(0.4));
  assert.deepEqual(
    topK(probs, classes, 5).map((t) => t.label),
    ["b", "d", "e", "a", "c"],
  );
  assert.equal(topK(probs, classes, 99).length, 5);
  assert.deepEqual(topK(probs, classes, 0), []);
  assert.throws(() => topK(probs, classes.slice(1), 2), RangeError);
});

test("a class named __proto__ (or constructor) keeps its own per-class entry", () => {
  const r = classificationReport([0, 1, 2, 0], [0, 1, 2, 2], ["__proto__", "constructor", "cat"]);
  assert.deepEqual(Object.keys(r.perClass), ["__proto__", "constructor", "cat"]);
  assert.equal(Object.getOwnPropertyDescriptor(r.perClass, "__proto__")?.value.support, 2);
  assert.equal(Object.getPrototypeOf(r.perClass), Object.prototype, "the map itself is not re-parented");
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(r)).perClass), ["__proto__", "constructor", "cat"]);
});
