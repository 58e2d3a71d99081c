import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import { Parser, type ReadEntry } from "tar";
import { BadRequestError } from "../errors.js";
import type { ArchiveSink, EntryKind } from "./archive.js";

const KINDS: Partial<Record<ReadEntry["type"], EntryKind>> = {
  File: "file",
  OldFile: "file",
  ContiguousFile: "file",
  Directory: "directory",
  GNUDumpDir: "directory",
  SymbolicLink: "symlink",
  Link: "hardlink",
  CharacterDevice: "device",
  BlockDevice: "device",
  FIFO: "fifo",
};

/**
 * Streams a tar (gzipped when `gzipped`) through node-tar's strict parser; the sink checks each entry
 * and writes accepted bodies. Bodies of skipped entries are decompressed too, so they count toward the
 * byte limit. Rejects with the first error (sink, parser, gunzip or file) once every write has settled.
 */
export async function extractTar(archivePath: string, gzipped: boolean, sink: ArchiveSink): Promise<void> {
  const source = createReadStream(archivePath);
  const gunzip = gzipped ? createGunzip() : null;
  const parser = new Parser({ strict: true, brotli: false, zstd: false });
  const pending = new Set<Promise<void>>();
  let failed = false;
  let failure: unknown;
  const abort = new AbortController();
  let settle = () => {};
  const finished = new Promise<void>((resolve) => {
    settle = resolve;
  });

  const fail = (err: unknown) => {
    if (failed) return;
    failed = true;
    failure = err;
    source.destroy();
    gunzip?.destroy();
    abort.abort(err);
    settle();
  };

  parser.on("entry", (entry: ReadEntry) => {
    if (failed) {
      entry.resume();
      return;
    }
    try {
      const rel = sink.accept(entry.path, KINDS[entry.type] ?? "other");
      if (rel === null) {
        skip(entry, sink, fail);
        return;
      }
      const write = sink.write(rel, chunksOf(entry, abort.signal)).catch(fail);
      pending.add(write);
      write.finally(() => pending.delete(write));
    } catch (err) {
      fail(err);
      entry.resume();
    }
  });
  parser.on("ignoredEntry", (entry: ReadEntry) => {
    const reason = entry.meta ? "has oversized metadata" : `has an unsupported type (${entry.type})`;
    fail(
      new BadRequestError(`unsafe archive entry ${JSON.stringify(entry.path)}: ${reason}`, "UNSAFE_ARCHIVE"),
    );
  });
  parser.on("error", fail);
  parser.on("end", () => settle());
  source.on("error", fail);
  source.on("data", (chunk) => sink.read(chunk.length));
  gunzip?.on("error", fail);

  const writable = parser as unknown as NodeJS.WritableStream;
  if (gunzip) source.pipe(gunzip).pipe(writable);
  else source.pipe(writable);

  await finished;
  await Promise.allSettled([...pending]);
  if (failed) throw failure;
}

function skip(entry: ReadEntry, sink: ArchiveSink, fail: (err: unknown) => void): void {
  entry.on("data", (chunk: Buffer) => {
    try {
      sink.count(chunk.length);
    } catch (err) {
      fail(err);
    }
  });
  entry.resume();
}

/**
 * The entry's chunks until it ends or `signal` aborts (a destroyed Minipass may never settle a read).
 * Each read listens for the abort only while it waits: racing every read against one long-lived promise
 * would keep every chunk reachable from that promise, the whole entry in memory.
 */
async function* chunksOf(entry: ReadEntry, signal: AbortSignal): AsyncGenerator<Buffer> {
  const chunks = entry[Symbol.asyncIterator]();
  while (!signal.aborted) {
    const next = await new Promise<IteratorResult<Buffer>>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      chunks.next().then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          resolve(value);
        },
        (err) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
    if (next.done) return;
    yield next.value;
  }
  throw signal.reason;
}
