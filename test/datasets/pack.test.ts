import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { PackReader, type PackSpan, PackWriter } from "../../src/datasets/pack.js";

const root = await mkdtemp(path.join(tmpdir(), "tls-pack-"));
after(() => rm(root, { recursive: true, force: true }));

test("every appended image reads back byte for byte, across several flushes", async () => {
  const file = path.join(root, "images.pack");
  const writer = await PackWriter.create(file);
  const images = Array.from({ length: 6000 }, (_, i) => randomBytes(1 + ((i * 7919) % 9000)));
  const spans: PackSpan[] = [];
  for (const img of images) spans.push(await writer.append(img));
  await writer.close();
  const total = images.reduce((s, b) => s + b.length, 0);
  assert.ok(total > 3 * 4 * 1024 * 1024, "more than three flushes' worth");
  assert.equal((await stat(file)).size, total);
  const reader = await PackReader.open(file);
  try {
    const order = images.map((_, i) => i).reverse();
    for (const i of order) assert.ok((await reader.read(spans[i])).equals(images[i]), `image ${i}`);
    await assert.rejects(reader.read([total - 10, 20]), /ends 10 bytes early/);
    assert.equal((await reader.read([5, 0])).length, 0);
  } finally {
    await reader.close();
  }
});

test("a view of a larger buffer is stored as the view, not the whole buffer", async () => {
  const file = path.join(root, "views.pack");
  const writer = await PackWriter.create(file);
  const big = randomBytes(1000);
  const span = await writer.append(big.subarray(100, 150));
  await writer.close();
  assert.deepEqual(span, [0, 50]);
  const reader = await PackReader.open(file);
  assert.ok((await reader.read(span)).equals(big.subarray(100, 150)));
  await reader.close();
});
