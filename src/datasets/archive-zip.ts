import type { Entry, ZipFile } from "yauzl";
import yauzl from "yauzl";
import { PayloadTooLargeError } from "../errors.js";
import type { ArchiveSink, EntryKind } from "./archive.js";

const MAX_RATIO = 1000;
const RATIO_FLOOR = 1024 * 1024;

/**
 * Reads a zip entry by entry with yauzl (lazy entries, entry sizes validated while inflating); the sink
 * checks each entry and writes accepted bodies. Entries declaring more than 1 MiB at a compression ratio
 * above 1000:1 are refused (413) before any byte is inflated.
 */
export async function extractZip(archivePath: string, sink: ArchiveSink): Promise<void> {
  const zip = await yauzl.openPromise(archivePath, {
    lazyEntries: true,
    validateEntrySizes: true,
    autoClose: false,
  });
  try {
    for (let entry = await nextEntry(zip); entry !== null; entry = await nextEntry(zip)) {
      sink.read(entry.compressedSize);
      const rel = sink.accept(entry.fileName, zipEntryKind(entry));
      if (rel === null) continue;
      const { uncompressedSize, compressedSize } = entry;
      if (uncompressedSize > RATIO_FLOOR && uncompressedSize > MAX_RATIO * compressedSize) {
        throw new PayloadTooLargeError(
          `archive entry ${JSON.stringify(rel)} declares ${uncompressedSize} bytes from ${compressedSize} ` +
            `compressed: a ratio above ${MAX_RATIO}:1 is refused`,
        );
      }
      await sink.write(rel, await zip.openReadStreamPromise(entry));
    }
  } finally {
    zip.close();
  }
}

/** The entry's kind from the unix mode in the high half of the external attributes, else its name. */
function zipEntryKind(entry: Entry): EntryKind {
  const type = (entry.externalFileAttributes >>> 16) & 0o170000;
  switch (type) {
    case 0:
    case 0o100000:
      return entry.fileName.endsWith("/") ? "directory" : "file";
    case 0o040000:
      return "directory";
    case 0o120000:
      return "symlink";
    case 0o020000:
    case 0o060000:
      return "device";
    case 0o010000:
      return "fifo";
    case 0o140000:
      return "socket";
    default:
      return "other";
  }
}

function nextEntry(zip: ZipFile): Promise<Entry | null> {
  return new Promise((resolve, reject) => {
    const done = () => {
      zip.off("entry", onEntry);
      zip.off("end", onEnd);
      zip.off("error", onError);
    };
    const onEntry = (entry: Entry) => {
      done();
      resolve(entry);
    };
    const onEnd = () => {
      done();
      resolve(null);
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    zip.on("entry", onEntry);
    zip.on("end", onEnd);
    zip.on("error", onError);
    zip.readEntry();
  });
}
