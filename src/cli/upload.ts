import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { create as createTar } from "tar";
import { glob } from "tinyglobby";
import { CliError, ExitCode, UsageError } from "./errors.js";

/** What `datasets push` uploads: an archive file as it is, or a folder packed on the fly as a tar. */
export interface UploadSource {
  /** The file name sent in the multipart part (the server derives the default dataset name from it). */
  fileName: string;
  contentType: string;
  /** Exact byte count when known (an archive file); a folder's tar size is only estimated. */
  size?: number;
  /** The expected byte count, for the progress bar. */
  estimate: number;
  /** Files in the folder (folders only). */
  files?: number;
  /** The bytes, streamed. */
  chunks(): AsyncIterable<Uint8Array>;
}

const ARCHIVES: [RegExp, string][] = [
  [/\.zip$/i, "application/zip"],
  [/\.(tar\.gz|tgz)$/i, "application/gzip"],
  [/\.tar$/i, "application/x-tar"],
];
const TAR_BLOCK = 512;

/** The upload of a folder or archive path; a usage error for anything else. */
export async function uploadSource(target: string): Promise<UploadSource> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new UsageError(`no such file or folder: ${target}`);
  if (info.isDirectory()) return folderSource(target);
  const type = ARCHIVES.find(([re]) => re.test(target))?.[1];
  if (!info.isFile() || !type) {
    throw new UsageError(`${target}: expected a folder or a .zip, .tar, .tar.gz or .tgz archive`);
  }
  return {
    fileName: path.basename(target),
    contentType: type,
    size: info.size,
    estimate: info.size,
    chunks: () => createReadStream(target, { highWaterMark: 256 * 1024 }),
  };
}

/**
 * A folder as a tar stream (node-tar, portable headers), of its files minus hidden ones and `__MACOSX/`
 * (the server ignores them anyway). The size estimate counts, per file, a 512-byte header (two more blocks
 * for a long or non-ASCII path) and the content rounded up to 512-byte blocks, plus the 1024-byte end.
 */
export async function folderSource(dir: string): Promise<UploadSource> {
  const found = await glob("**/*", { cwd: dir, onlyFiles: true, dot: false, followSymbolicLinks: true });
  const files = found.filter((f) => !f.split("/").includes("__MACOSX")).sort();
  if (files.length === 0) throw new UsageError(`${dir}: the folder has no files to upload`);
  let estimate = 2 * TAR_BLOCK;
  for (let i = 0; i < files.length; i += 64) {
    const sizes = await Promise.all(
      files.slice(i, i + 64).map((f) => stat(path.join(dir, f)).then((s) => ({ f, size: s.size }))),
    );
    for (const { f, size } of sizes) {
      const long = Buffer.byteLength(f) > 100 || /[^\x20-\x7e]/.test(f);
      estimate += TAR_BLOCK * (1 + (long ? 2 : 0)) + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
    }
  }
  // node-tar reads a name starting with `@` as an archive to concatenate: `./` keeps it a file.
  const entries = files.map((f) => (f.startsWith("@") ? `./${f}` : f));
  const base = path.basename(path.resolve(dir)) || "dataset";
  return {
    fileName: `${base}.tar`,
    contentType: "application/x-tar",
    estimate,
    files: files.length,
    chunks: () =>
      createTar(
        { cwd: dir, portable: true, follow: true, noDirRecurse: true },
        entries,
      ) as AsyncIterable<Uint8Array>,
  };
}

/** A multipart/form-data body streamed from an async source, counting the file bytes handed to the socket. */
export interface MultipartBody {
  body: ReadableStream<Uint8Array>;
  contentType: string;
  /** The whole body's length, when the file's size is exact. */
  length?: number;
  /** An error reading the local file, if that is what ended the upload. */
  readError(): Error | undefined;
}

/** Quotes a multipart parameter value (`"` and line breaks percent-encoded, as browsers do). */
function quoted(value: string): string {
  return `"${value.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A")}"`;
}

/**
 * The multipart body of text `fields` then the file `source` under `fileField`; `onBytes` gets the count of
 * every file chunk when the HTTP client pulls it.
 */
export function multipartBody(
  fields: Record<string, string | undefined>,
  fileField: string,
  source: UploadSource,
  onBytes: (n: number) => void,
): MultipartBody {
  const boundary = `----transfer-cli-${randomBytes(12).toString("hex")}`;
  let head = "";
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    head += `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(name)}\r\n\r\n${value}\r\n`;
  }
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(fileField)}; ` +
    `filename=${quoted(source.fileName)}\r\nContent-Type: ${source.contentType}\r\n\r\n`;
  const headBytes = Buffer.from(head, "utf8");
  const tailBytes = Buffer.from(`\r\n--${boundary}--\r\n`, "utf8");
  let iterator: AsyncIterator<Uint8Array> | undefined;
  let stage: "head" | "file" | "tail" | "done" = "head";
  let readError: Error | undefined;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (stage === "head") {
          stage = "file";
          controller.enqueue(headBytes);
          return;
        }
        if (stage === "file") {
          iterator ??= source.chunks()[Symbol.asyncIterator]();
          let next: IteratorResult<Uint8Array>;
          try {
            next = await iterator.next();
          } catch (err) {
            readError = new CliError(
              ExitCode.refused,
              "READ_FAILED",
              `reading ${source.fileName}: ${(err as Error).message}`,
              { cause: err },
            );
            controller.error(readError);
            return;
          }
          if (!next.done) {
            onBytes(next.value.byteLength);
            controller.enqueue(next.value);
            return;
          }
          stage = "tail";
        }
        if (stage === "tail") {
          stage = "done";
          controller.enqueue(tailBytes);
          controller.close();
        }
      },
      async cancel() {
        await iterator?.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    body,
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: source.size === undefined ? undefined : headBytes.length + source.size + tailBytes.length,
    readError: () => readError,
  };
}
