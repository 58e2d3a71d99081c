import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type PhotoClass, photo } from "../../scripts/lib/photos.js";
import { preprocessImage } from "../../src/backbones/preprocess.js";
import { BackboneRegistry, type LoadedBackbone } from "../../src/backbones/registry.js";
import { MicroBatcher } from "../../src/models/batcher.js";

describe("MicroBatcher", () => {
  let dir: string;
  let registry: BackboneRegistry;
  let bb: LoadedBackbone;
  const inputs: Float32Array[] = [];
  const per = 3 * 224 * 224;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "batcher-"));
    registry = new BackboneRegistry({
      cacheDir: dir,
      defaultId: "mobilenet_v2",
      runtime: { executionProvider: "cpu", threads: 0 },
    });
    bb = await registry.load("mobilenet_v2");
    for (const cls of ["cat", "coffee", "astronaut", "motorcycle"] as PhotoClass[]) {
      inputs.push(await preprocessImage(photo(cls), bb.manifest.preprocessing));
    }
  });

  after(async () => {
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("groups concurrent requests into batches and returns each request its own features", async () => {
    const batcher = new MicroBatcher(bb.session, per, bb.manifest.featureDim, 8, 0);
    const requests = Array.from({ length: 12 }, (_, i) => inputs[i % 4]);
    const results = await Promise.all(requests.map((x) => batcher.run(x)));
    assert.equal(batcher.stats.images, 12);
    assert.ok(
      batcher.stats.batches < 12,
      `expected batching, got ${batcher.stats.batches} batches for 12 images`,
    );
    assert.ok(batcher.stats.batches >= 2, "a batch never exceeds maxBatch");
    for (let i = 0; i < 12; i++) {
      const alone = await bb.session.run(requests[i], 1);
      const diff = results[i].reduce((m, v, j) => Math.max(m, Math.abs(v - alone[j])), 0);
      assert.ok(diff < 1e-4, `request ${i} got another image's features (diff ${diff})`);
    }
  });

  it("runs a lone request at once when idle, and waits for company with waitMs", async () => {
    const eager = new MicroBatcher(bb.session, per, bb.manifest.featureDim, 8, 0);
    await eager.run(inputs[0]);
    assert.deepEqual(eager.stats, { batches: 1, images: 1 });
    const patient = new MicroBatcher(bb.session, per, bb.manifest.featureDim, 8, 50);
    const first = patient.run(inputs[0]);
    await new Promise((r) => setTimeout(r, 10));
    await Promise.all([first, patient.run(inputs[1])]);
    assert.deepEqual(patient.stats, { batches: 1, images: 2 });
  });

  it("rejects an input of the wrong size without disturbing the others", async () => {
    const batcher = new MicroBatcher(bb.session, per, bb.manifest.featureDim, 4, 0);
    const [bad, good] = await Promise.allSettled([batcher.run(new Float32Array(10)), batcher.run(inputs[0])]);
    assert.equal(bad.status, "rejected");
    assert.equal(good.status, "fulfilled");
    assert.deepEqual(batcher.stats, { batches: 1, images: 1 });
  });
});
