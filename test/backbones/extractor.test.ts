import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { photo } from "../../scripts/lib/photos.js";
import { extractFeatures } from "../../src/backbones/extractor.js";
import { FeatureCache } from "../../src/backbones/feature-cache.js";
import { BackboneRegistry, type LoadedBackbone } from "../../src/backbones/registry.js";
import { claimedPng } from "../helpers/images.js";

/** Wraps a real backbone session to count how many images go through it. */
function counting(bb: LoadedBackbone) {
  const counter = { images: 0, calls: 0 };
  const wrapped: LoadedBackbone = {
    ...bb,
    session: {
      runtime: bb.session.runtime,
      run: (input, n) => {
        counter.calls++;
        counter.images += n;
        return bb.session.run(input, n);
      },
      release: () => bb.session.release(),
    },
  };
  return { wrapped, counter };
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe("extractFeatures", () => {
  let dir: string;
  let registry: BackboneRegistry;
  let bb: LoadedBackbone;
  const good: string[] = [];
  const bad: Record<string, string> = {};

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "extract-"));
    registry = new BackboneRegistry({
      cacheDir: path.join(dir, "cache"),
      defaultId: "mobilenet_v2",
      runtime: { executionProvider: "cpu", threads: 0 },
    });
    bb = await registry.load("mobilenet_v2");
    for (const cls of ["cat", "coffee", "astronaut"] as const) {
      const file = path.join(dir, `${cls}.jpg`);
      await writeFile(file, photo(cls));
      good.push(file);
    }
    const jpeg = photo("motorcycle");
    const entries: Record<string, Buffer> = {
      "truncated.jpg": jpeg.subarray(0, Math.floor(jpeg.length / 2)),
      "empty.jpg": Buffer.alloc(0),
      "text.jpg": Buffer.from("this is not an image, just text named .jpg\n"),
      "huge.png": claimedPng(30000, 30000),
    };
    for (const [name, bytes] of Object.entries(entries)) {
      bad[name] = path.join(dir, name);
      await writeFile(bad[name], bytes);
    }
  });

  after(async () => {
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("returns per-item errors for bad images while the rest of the batch gets its features", async () => {
    const sources = [
      good[0],
      bad["truncated.jpg"],
      good[1],
      bad["empty.jpg"],
      bad["text.jpg"],
      good[2],
      bad["huge.png"],
    ];
    const out = await extractFeatures(sources, bb, { batchSize: 4, concurrency: 3 });
    assert.deepEqual(out.ok, [true, false, true, false, false, true, false]);
    const reasons = Object.fromEntries(out.errors.map((e) => [path.basename(sources[e.index]), e.reason]));
    assert.match(reasons["truncated.jpg"], /corrupt|premature|truncat/i);
    assert.match(reasons["empty.jpg"], /empty/i);
    assert.match(reasons["text.jpg"], /unsupported|corrupt/i);
    assert.match(reasons["huge.png"], /too large.*30000x30000/);
    const dim = bb.manifest.featureDim;
    for (const i of [0, 2, 5]) {
      const alone = await extractFeatures([sources[i]], bb);
      const inBatch = out.features.subarray(i * dim, (i + 1) * dim);
      assert.ok(
        inBatch.some((v) => v !== 0),
        `features of item ${i} are all zero`,
      );
      assert.ok(maxAbsDiff(inBatch, alone.features) < 1e-4, `item ${i} differs from its single extraction`);
    }
    for (const i of [1, 3, 4, 6])
      assert.ok(out.features.subarray(i * dim, (i + 1) * dim).every((v) => v === 0));
    assert.equal(out.computed, 3);
  });

  it("keeps the order of items across batches and decode concurrency", async () => {
    const sources = [good[2], good[0], good[1], good[0], good[2]];
    const out = await extractFeatures(sources, bb, { batchSize: 2, concurrency: 4 });
    const dim = bb.manifest.featureDim;
    const row = (i: number) => out.features.subarray(i * dim, (i + 1) * dim);
    assert.ok(maxAbsDiff(row(0), row(4)) < 1e-4);
    assert.ok(maxAbsDiff(row(1), row(3)) < 1e-4);
    assert.ok(maxAbsDiff(row(0), row(1)) > 1e-2, "different photos must give different features");
  });

  it("serves cache hits without a backbone pass, keyed by content and view", async () => {
    const cache = new FeatureCache(path.join(dir, "features"));
    const first = counting(bb);
    const cold = await extractFeatures(good, first.wrapped, { cache, batchSize: 8 });
    assert.equal(first.counter.images, 3);
    assert.equal(cold.cached, 0);

    const second = counting(bb);
    const warm = await extractFeatures(good, second.wrapped, { cache, batchSize: 8 });
    assert.equal(second.counter.calls, 0, "a cache hit must not run the backbone");
    assert.equal(warm.cached, 3);
    assert.deepEqual(warm.features, cold.features);

    const third = counting(bb);
    const aug = await extractFeatures(good, third.wrapped, { cache, view: 1, augmentSeed: 7 });
    assert.equal(third.counter.images, 3, "an augmented view is a different cache entry");
    assert.ok(
      maxAbsDiff(aug.features, cold.features) > 1e-2,
      "augmented features must differ from the evaluation view",
    );
    const again = counting(bb);
    const aug2 = await extractFeatures(good, again.wrapped, { cache, view: 1, augmentSeed: 7 });
    assert.equal(again.counter.calls, 0);
    assert.deepEqual(aug2.features, aug.features);

    const reseeded = counting(bb);
    const aug3 = await extractFeatures(good, reseeded.wrapped, { cache, view: 1, augmentSeed: 9 });
    assert.equal(reseeded.counter.images, 3, "another augmentation seed must not reuse cached views");
    assert.ok(maxAbsDiff(aug3.features, aug.features) > 1e-2, "another seed gives other views");
  });

  it("returns the features when the cache cannot be written (a full disk, a file in the way)", async () => {
    const blocker = path.join(dir, "not-a-folder");
    await writeFile(blocker, "x");
    const broken = new FeatureCache(blocker);
    const plain = await extractFeatures(good, bb, { batchSize: 8 });
    const out = await extractFeatures(good, bb, { cache: broken, batchSize: 8 });
    assert.deepEqual(out.errors, []);
    assert.equal(out.computed, 3);
    assert.deepEqual(out.features, plain.features);
  });

  it("stops early when asked, leaving unprocessed items unmarked", async () => {
    let polled = 0;
    const out = await extractFeatures([...good, ...good], bb, {
      batchSize: 2,
      concurrency: 1,
      shouldStop: () => ++polled > 2,
    });
    assert.equal(out.stopped, true);
    assert.ok(out.ok.filter(Boolean).length < 6);
  });
});
