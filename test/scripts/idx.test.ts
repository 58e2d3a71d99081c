import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { gzipSync } from "node:zlib";
import { readIdxImages, readIdxLabels } from "../../scripts/lib/idx.js";

let dir = "";
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "idx-test-"));
});
after(() => rm(dir, { recursive: true, force: true }));

/** An IDX file: magic, big-endian dimension sizes, then `data`. */
function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  for (const [i, d] of dims.entries()) head.writeUInt32BE(d, 4 + 4 * i);
  return Buffer.concat([head, data]);
}

async function write(name: string, bytes: Buffer): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

// 3 images of 2 rows x 4 cols with distinct bytes; 300 labels so that the count needs two bytes (a
// little-endian reader would see 300 as 0x2c010000).
const COUNT = 3;
const ROWS = 2;
const COLS = 4;
const PIXELS = Uint8Array.from({ length: COUNT * ROWS * COLS }, (_, i) => (i * 7) % 256);
const LABELS = Uint8Array.from({ length: 300 }, (_, i) => i % 10);

for (const gz of [false, true]) {
  const kind = gz ? "gzipped" : "plain";
  const enc = (b: Buffer) => (gz ? gzipSync(b) : b);

  test(`readIdxImages reads a ${kind} IDX3 file`, async () => {
    const file = await write(`images-${kind}`, enc(idx(2051, [COUNT, ROWS, COLS], PIXELS)));
    const got = await readIdxImages(file);
    assert.equal(got.count, COUNT);
    assert.equal(got.rows, ROWS);
    assert.equal(got.cols, COLS);
    assert.deepEqual(Array.from(got.pixels), Array.from(PIXELS));
  });

  test(`readIdxLabels reads a ${kind} IDX1 file with a count over 255 (big-endian)`, async () => {
    const file = await write(`labels-${kind}`, enc(idx(2049, [LABELS.length], LABELS)));
    const got = await readIdxLabels(file);
    assert.equal(got.length, 300);
    assert.deepEqual(Array.from(got), Array.from(LABELS));
  });

  test(`${kind}: a bad magic number is a clear error`, async () => {
    const labelsAsImages = await write(`swapped-${kind}`, enc(idx(2049, [LABELS.length], LABELS)));
    await assert.rejects(readIdxImages(labelsAsImages), /bad IDX magic number 2049 .*expected 2051/);
    const imagesAsLabels = await write(`swapped2-${kind}`, enc(idx(2051, [COUNT, ROWS, COLS], PIXELS)));
    await assert.rejects(readIdxLabels(imagesAsLabels), /bad IDX magic number 2051 .*expected 2049/);
    const junk = await write(`junk-${kind}`, enc(Buffer.from("<html>not found</html>")));
    await assert.rejects(readIdxImages(junk), /bad IDX magic number/);
  });

  test(`${kind}: a truncated payload is a clear error`, async () => {
    const full = idx(2051, [COUNT, ROWS, COLS], PIXELS);
    const file = await write(`short-images-${kind}`, enc(full.subarray(0, full.length - 5)));
    await assert.rejects(
      readIdxImages(file),
      /truncated IDX images file: header announces 24 data bytes, found 19/,
    );
    const labels = idx(2049, [LABELS.length], LABELS);
    const lfile = await write(`short-labels-${kind}`, enc(labels.subarray(0, 8 + 299)));
    await assert.rejects(
      readIdxLabels(lfile),
      /truncated IDX labels file: header announces 300 data bytes, found 299/,
    );
  });

  test(`${kind}: a truncated header is a clear error`, async () => {
    const file = await write(
      `short-header-${kind}`,
      enc(idx(2051, [COUNT, ROWS, COLS], PIXELS).subarray(0, 10)),
    );
    await assert.rejects(
      readIdxImages(file),
      /truncated IDX images file: 10 bytes, the header alone needs 16/,
    );
    const empty = await write(`empty-${kind}`, enc(Buffer.alloc(0)));
    await assert.rejects(readIdxLabels(empty), /truncated IDX labels file: 0 bytes/);
  });

  test(`${kind}: bytes after the data are an error`, async () => {
    const file = await write(`long-${kind}`, enc(idx(2049, [2], Uint8Array.of(1, 2, 3))));
    await assert.rejects(readIdxLabels(file), /1 unexpected bytes after the data/);
  });
}

test("an IDX file with zero images is valid", async () => {
  const file = await write("zero", idx(2051, [0, 28, 28], new Uint8Array(0)));
  assert.deepEqual(await readIdxImages(file), { count: 0, rows: 28, cols: 28, pixels: new Uint8Array(0) });
});

test("a truncated gzip stream is a clear error", async () => {
  const gz = gzipSync(idx(2051, [COUNT, ROWS, COLS], PIXELS));
  const file = await write("cut.gz", gz.subarray(0, gz.length - 12));
  await assert.rejects(readIdxImages(file), /not a valid gzip file .*truncated download\?/);
});

test("a missing file rejects with ENOENT", async () => {
  await assert.rejects(readIdxLabels(path.join(dir, "nope.gz")), { code: "ENOENT" });
});
