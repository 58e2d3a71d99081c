import assert from "node:assert/strict";
import { test } from "node:test";
import { assertUsableClasses, countPerClass, detectLayout, type Item } from "../../src/datasets/layout.js";
import { AppError } from "../../src/errors.js";

function invalidDataset(text: string) {
  return (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.statusCode, 400);
    assert.equal(err.code, "INVALID_DATASET");
    assert.ok(err.message.includes(text), `${JSON.stringify(err.message)} mentions ${text}`);
    return true;
  };
}

const labels = (items: Item[] | undefined) => items?.map((i) => `${i.label}:${i.path}`);

test("class folders: everything is train, classes sorted, no val/test", () => {
  const layout = detectLayout(["dog/1.jpg", "cat/2.png", "dog/3.jpeg", "bird/4.webp"]);
  assert.deepEqual(layout.classes, ["bird", "cat", "dog"]);
  assert.deepEqual(labels(layout.splits.train), [
    "dog:dog/1.jpg",
    "cat:cat/2.png",
    "dog:dog/3.jpeg",
    "bird:bird/4.webp",
  ]);
  assert.deepEqual(Object.keys(layout.splits), ["train"]);
  assert.deepEqual(layout.ignored, []);
});

test("train/val/test splits", () => {
  const layout = detectLayout(["train/cat/1.jpg", "train/dog/2.jpg", "val/cat/3.jpg", "test/dog/4.jpg"]);
  assert.deepEqual(layout.classes, ["cat", "dog"]);
  assert.deepEqual(labels(layout.splits.train), ["cat:train/cat/1.jpg", "dog:train/dog/2.jpg"]);
  assert.deepEqual(labels(layout.splits.val), ["cat:val/cat/3.jpg"]);
  assert.deepEqual(labels(layout.splits.test), ["dog:test/dog/4.jpg"]);
});

test("valid and validation are val; split names ignore case; test alone is fine", () => {
  const layout = detectLayout([
    "Train/cat/1.jpg",
    "TRAIN/dog/2.jpg",
    "valid/cat/3.jpg",
    "Validation/dog/4.jpg",
  ]);
  assert.deepEqual(labels(layout.splits.train), ["cat:Train/cat/1.jpg", "dog:TRAIN/dog/2.jpg"]);
  assert.deepEqual(labels(layout.splits.val), ["cat:valid/cat/3.jpg", "dog:Validation/dog/4.jpg"]);
  assert.equal(layout.splits.test, undefined);
  const withTest = detectLayout(["train/a/1.jpg", "train/b/2.jpg", "test/a/3.jpg"]);
  assert.deepEqual(Object.keys(withTest.splits), ["train", "test"]);
});

test("one wrapping folder around a split layout", () => {
  const layout = detectLayout([
    "Cat_Dog_data/train/cat/1.jpg",
    "Cat_Dog_data/train/dog/2.jpg",
    "Cat_Dog_data/test/cat/3.jpg",
    "Cat_Dog_data/readme.txt",
  ]);
  assert.deepEqual(layout.classes, ["cat", "dog"]);
  assert.deepEqual(labels(layout.splits.train), [
    "cat:Cat_Dog_data/train/cat/1.jpg",
    "dog:Cat_Dog_data/train/dog/2.jpg",
  ]);
  assert.deepEqual(labels(layout.splits.test), ["cat:Cat_Dog_data/test/cat/3.jpg"]);
  assert.deepEqual(layout.ignored, ["Cat_Dog_data/readme.txt"]);
});

test("one wrapping folder around class folders; a root image inside it is ignored", () => {
  const layout = detectLayout(["photos/cat/1.jpg", "photos/dog/2.jpg", "photos/cover.jpg"]);
  assert.deepEqual(layout.classes, ["cat", "dog"]);
  assert.deepEqual(labels(layout.splits.train), ["cat:photos/cat/1.jpg", "dog:photos/dog/2.jpg"]);
  assert.deepEqual(layout.ignored, ["photos/cover.jpg"]);
});

test("only one wrapping folder is unwrapped", () => {
  assert.throws(() => detectLayout(["a/b/cat/1.jpg", "a/b/dog/2.jpg"]), invalidDataset("only one class"));
});

test("a shared train folder is the split, not a wrapper", () => {
  const layout = detectLayout(["train/cat/1.jpg", "train/dog/2.jpg"]);
  assert.deepEqual(layout.classes, ["cat", "dog"]);
  assert.equal(layout.splits.train.length, 2);
});

test("a shared folder holding the images directly is the class layer, not a wrapper", () => {
  assert.throws(
    () => detectLayout(["cat/1.jpg", "cat/2.jpg"]),
    invalidDataset('only one class found ("cat")'),
  );
});

test("files deeper in a class folder belong to that class", () => {
  const layout = detectLayout(["train/cat/a/b/1.jpg", "train/dog/2.jpg", "cat/x/3.jpg"]);
  assert.deepEqual(labels(layout.splits.train), ["cat:train/cat/a/b/1.jpg", "dog:train/dog/2.jpg"]);
  const flat = detectLayout(["cat/x/y/1.jpg", "dog/2.jpg"]);
  assert.deepEqual(labels(flat.splits.train), ["cat:cat/x/y/1.jpg", "dog:dog/2.jpg"]);
});

test("files at the root or split level, outside the splits, or not images are ignored", () => {
  const layout = detectLayout([
    "cover.jpg",
    "train/loose.jpg",
    "val/loose.png",
    "other/cat/1.jpg",
    "train/cat/notes.txt",
    "train/cat/1.jpg",
    "train/dog/2.JPG",
    "train/dog/3.TIFF",
    "train/dog/4.tif",
    "train/dog/5.gif",
    "train/dog/6.bmp",
    "train/dog/noext",
  ]);
  assert.deepEqual(layout.classes, ["cat", "dog"]);
  assert.deepEqual(
    layout.splits.train.map((i) => i.path),
    ["train/cat/1.jpg", "train/dog/2.JPG", "train/dog/3.TIFF", "train/dog/4.tif", "train/dog/5.gif"],
  );
  assert.deepEqual([...layout.ignored].sort(), [
    "cover.jpg",
    "other/cat/1.jpg",
    "train/cat/notes.txt",
    "train/dog/6.bmp",
    "train/dog/noext",
    "train/loose.jpg",
    "val/loose.png",
  ]);
});

test("a class only in val or test is an error naming it", () => {
  const files = ["train/cat/1.jpg", "train/dog/2.jpg", "val/fox/3.jpg", "test/owl/4.jpg"];
  assert.throws(
    () => detectLayout(files),
    invalidDataset('classes "fox", "owl" without any usable image in train'),
  );
  assert.throws(() => detectLayout(["val/cat/1.jpg", "val/dog/2.jpg"]), invalidDataset('"cat", "dog"'));
});

test("no class at all, or a single class, is an error", () => {
  assert.throws(() => detectLayout([]), invalidDataset("no class found"));
  assert.throws(() => detectLayout(["a.jpg", "b.png", "notes/readme.md"]), invalidDataset("no class found"));
  assert.throws(() => detectLayout(["train/a.jpg", "val/b.jpg"]), invalidDataset("no class found"));
  assert.throws(() => detectLayout(["train/cat/1.jpg", "test/cat/2.jpg"]), invalidDataset("only one class"));
});

test("classes sort by plain code-unit order, whatever the locale", () => {
  const layout = detectLayout(["b/1.jpg", "a/2.jpg", "Z/3.jpg", "é/4.jpg", "B/5.jpg"]);
  assert.deepEqual(layout.classes, ["B", "Z", "a", "b", "é"]);
});

test("class names that are Object.prototype keys are ordinary classes", () => {
  const layout = detectLayout(["train/constructor/1.jpg", "train/__proto__/2.jpg"]);
  assert.deepEqual(layout.classes, ["__proto__", "constructor"]);
  const counts = countPerClass(layout.splits.train);
  assert.deepEqual(Object.entries(counts), [
    ["__proto__", 1],
    ["constructor", 1],
  ]);
  assert.throws(
    () => assertUsableClasses(["constructor", "toString"], layout.splits.train),
    invalidDataset('"toString"'),
  );
});

test("countPerClass counts items per label, keys sorted", () => {
  const items = [
    { path: "x", label: "dog" },
    { path: "y", label: "cat" },
    { path: "z", label: "dog" },
  ];
  const counts = countPerClass(items);
  assert.deepEqual(counts, { cat: 1, dog: 2 });
  assert.deepEqual(Object.keys(counts), ["cat", "dog"]);
  assert.deepEqual(countPerClass([]), {});
});

test("assertUsableClasses re-checks after unusable images were dropped", () => {
  const { classes, splits } = detectLayout(["cat/1.jpg", "cat/2.jpg", "dog/3.jpg"]);
  assert.doesNotThrow(() => assertUsableClasses(classes, splits.train));
  const withoutDog = splits.train.filter((item) => item.label !== "dog");
  assert.throws(
    () => assertUsableClasses(classes, withoutDog),
    invalidDataset('class "dog" without any usable image'),
  );
  assert.throws(() => assertUsableClasses(["cat"], withoutDog), invalidDataset("at least 2 classes"));
  assert.throws(() => assertUsableClasses([], []), invalidDataset("no class found"));
});
