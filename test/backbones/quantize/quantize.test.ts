import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { photoVariants } from "../../../scripts/lib/photos.js";
import { preprocessImage } from "../../../src/backbones/preprocess.js";
import { BackboneRegistry } from "../../../src/backbones/registry.js";
import { cosine } from "../../helpers/vectors.js";

describe("built-in mobilenet_v2_int8", () => {
  let dir: string;
  let registry: BackboneRegistry;
  const logs: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "int8-builtin-"));
    registry = new BackboneRegistry({
      cacheDir: dir,
      defaultId: "mobilenet_v2",
      runtime: { executionProvider: "cpu", threads: 0 },
      log: (_l, m) => logs.push(m),
    });
  });

  after(async () => {
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("gives features of photos it was not calibrated on close to the float model's", async () => {
    const float = await registry.load("mobilenet_v2");
    const int8 = await registry.load("mobilenet_v2_int8");
    assert.ok(logs.some((l) => l.startsWith("quantized backbone mobilenet_v2_int8")));
    assert.deepEqual(int8.manifest.preprocessing, float.manifest.preprocessing);
    const photos = [
      ...(await photoVariants("cat", 3, 501)),
      ...(await photoVariants("coffee", 3, 502)),
      ...(await photoVariants("motorcycle", 2, 503)),
    ];
    const p = float.manifest.preprocessing;
    const size = 3 * p.inputSize * p.inputSize;
    const input = new Float32Array(photos.length * size);
    for (const [i, bytes] of photos.entries())
      await preprocessImage(bytes, p, { out: input, offset: i * size });
    const a = await float.session.run(input, photos.length);
    const q = await int8.session.run(input, photos.length);
    const cosines = photos.map((_, i) =>
      cosine(a.subarray(i * 1280, (i + 1) * 1280), q.subarray(i * 1280, (i + 1) * 1280)),
    );
    const mean = cosines.reduce((s, c) => s + c, 0) / cosines.length;
    assert.ok(Math.min(...cosines) > 0.95 && mean > 0.975, `cosines ${cosines.map((c) => c.toFixed(4))}`);
    assert.ok(
      cosines.every((c) => c < 0.99999),
      "int8 features identical to float ones",
    );
  });
});
