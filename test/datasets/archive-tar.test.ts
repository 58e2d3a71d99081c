import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, test } from "node:test";
import { createGzip } from "node:zlib";
import { extractArchive } from "../../src/datasets/archive.js";
import { isImagePath } from "../../src/datasets/layout.js";
import { PayloadTooLargeError } from "../../src/errors.js";
import { tarHeader } from "../helpers/archives.js";

const MiB = 2 ** 20;
const root = await mkdtemp(path.join(tmpdir(), "tls-tar-"));
after(() => rm(root, { recursive: true, force: true }));

/** A tar.gz (on disk) of one entry `name` holding `size` zero bytes, written as a stream. */
async function zeroTarGz(file: string, name: string, size: number): Promise<void> {
  const zeros = Buffer.alloc(MiB);
  async function* tarStream() {
    yield tarHeader(name, size);
    for (let left = size; left > 0; left -= MiB) yield left >= MiB ? zeros : zeros.subarray(0, left);
    yield Buffer.alloc(((512 - (size % 512)) % 512) + 1024);
  }
  await pipeline(Readable.from(tarStream()), createGzip({ level: 1 }), createWriteStream(file));
}

test("a huge kept entry streams through in constant memory and stops at the byte limit", async () => {
  // 1 GiB of zeros under an image name, as ingestion extracts it: kept files are buffered up to
  // maxFileBytes, then dropped. Each chunk once stayed reachable from a long-lived abort promise, so the
  // whole entry piled up in memory (a 10 GiB entry took the process past 6 GB); now only what one file
  // may hold is. The bound is far above the fixed figure (tens of MB) and far below the leak (1 GiB).
  const archive = path.join(root, "zeros.tar.gz");
  await zeroTarGz(archive, "train/cat/zero.jpg", 1024 * MiB);
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const dest = path.join(root, "zeros");
  const outcome = await extractArchive(
    archive,
    dest,
    { maxFiles: 100, maxUnpackedBytes: 768 * MiB },
    { keep: isImagePath, onFile: async () => {}, maxFileBytes: 16 * MiB },
  ).catch((err: unknown) => err);
  clearInterval(sample);
  peak = Math.max(peak, process.memoryUsage().rss);
  assert.ok(outcome instanceof PayloadTooLargeError, String(outcome));
  assert.match(outcome.message, /unpacks to more than/);
  const grewMiB = (peak - before) / MiB;
  assert.ok(grewMiB < 400, `extraction grew the process by ${grewMiB.toFixed(0)} MiB`);
  assert.deepEqual(await readdir(dest).catch(() => []), [], "nothing is left behind");
});

test("an ignored entry is counted toward the limit but never written", async () => {
  const archive = path.join(root, "notes.tar.gz");
  await zeroTarGz(archive, "train/cat/notes.bin", 64 * MiB);
  const dest = path.join(root, "notes");
  const result = await extractArchive(
    archive,
    dest,
    { maxFiles: 100, maxUnpackedBytes: 1024 * MiB },
    { keep: isImagePath, onFile: async () => {} },
  );
  assert.deepEqual(result.files, []);
  assert.equal(result.ignoredCount, 1);
  assert.deepEqual(await readdir(dest, { recursive: true }), [], "the non-image was not written");
  const over = await extractArchive(
    archive,
    path.join(root, "notes-limited"),
    { maxFiles: 100, maxUnpackedBytes: 32 * MiB },
    { keep: isImagePath, onFile: async () => {} },
  ).catch((err: unknown) => err);
  assert.ok(over instanceof PayloadTooLargeError, "ignored bytes count toward maxUnpackedBytes");
});
