import { createWriteStream } from "node:fs";
import { mkdir, open, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { AppError, BadRequestError, PayloadTooLargeError } from "../errors.js";
import { extractTar } from "./archive-tar.js";
import { extractZip } from "./archive-zip.js";

/** Limits applied while unpacking an archive. */
export interface ExtractLimits {
  /** Most regular files written; one more is a 413. */
  maxFiles: number;
  /** Most decompressed bytes (counted while streaming, headers are not trusted); one more is a 413. */
  maxUnpackedBytes: number;
}

/** Options of {@link extractArchive}. */
export interface ExtractOptions {
  /** Which accepted files to write; the others are counted toward the limits and dropped. Default: all. */
  keep?: (rel: string) => boolean;
  /**
   * Called with the whole body of each kept file once it is written, at most `concurrency` at once (the
   * archive is not read further meanwhile). A kept file over `maxFileBytes` is dropped and listed in
   * `oversized` instead.
   */
  onFile?: (rel: string, bytes: Buffer) => Promise<void>;
  /**
   * With `onFile`: false hands kept files to `onFile` without writing them under `destDir` (the caller
   * stores them); `files` still lists them. Default true.
   */
  writeFiles?: boolean;
  /** Files handed to `onFile` at once (default 8). */
  concurrency?: number;
  /** Largest file buffered for `onFile` (default 64 MiB). */
  maxFileBytes?: number;
  /** Compressed archive bytes read so far, for progress. */
  onRead?: (bytes: number) => void;
}

/** Skipped entries listed in {@link ExtractResult.ignored} at most; the rest are only counted. */
export const MAX_LISTED_IGNORED = 1000;

/** What {@link extractArchive} unpacked: written files and skipped entries, as relative POSIX paths. */
export interface ExtractResult {
  files: string[];
  /** The first {@link MAX_LISTED_IGNORED} skipped entries. */
  ignored: string[];
  ignoredCount: number;
  /** Kept files over `maxFileBytes`, dropped. */
  oversized: string[];
}

/** The kind of an archive entry, as the zip or tar reader understands it. */
export type EntryKind =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "device"
  | "fifo"
  | "socket"
  | "other";

/** What the zip and tar readers talk to; the only code that writes under the destination. */
export interface ArchiveSink {
  readonly limits: ExtractLimits;
  accept(name: string, kind: EntryKind): string | null;
  count(bytes: number): void;
  /** Streams an accepted entry's body to its file, counting bytes; never overwrites anything. */
  write(rel: string, body: AsyncIterable<Buffer>): Promise<void>;
  /** Compressed bytes read from the archive. */
  read(bytes: number): void;
}

const JUNK_NAMES = new Set(["thumbs.db", "desktop.ini"]);
const CONFLICT_CODES = new Set(["EEXIST", "ENOTDIR", "EISDIR"]);
const YAUZL_UNSAFE = /^(absolute path|invalid relative path|invalid characters in fileName): /;

/**
 * Unpacks a zip, tar or tar.gz archive (format told by its magic bytes, never its name) into `destDir`,
 * which must be absent or empty. Every entry name is checked before anything is written: absolute paths,
 * `..` segments (backslashes count as separators), NUL bytes, links, devices and FIFOs reject the whole
 * archive (400 `UNSAFE_ARCHIVE`). Directory entries and junk (`__MACOSX/`, hidden files and folders,
 * `Thumbs.db`, `desktop.ini`) are skipped and listed in `ignored`. More than `maxFiles` files, or more
 * than `maxUnpackedBytes` decompressed bytes, is a 413; so are zip entries with an absurd declared
 * compression ratio and, to keep `ignored` bounded, more than `4 * maxFiles + 1000` entries of any kind.
 * An empty file is 400 `EMPTY_UPLOAD`; anything that is not a readable archive is 400 `INVALID_ARCHIVE`.
 * On any error whatever was written under `destDir` is removed before the error is rethrown.
 *
 * @returns the written files (sorted) and the ignored entries, relative to `destDir`, `/`-separated.
 */
export async function extractArchive(
  archivePath: string,
  destDir: string,
  limits: ExtractLimits,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const format = await sniffFormat(archivePath);
  const root = path.resolve(destDir);
  const existed = await prepareDestination(root);
  const extraction = new Extraction(root, limits, options);
  try {
    if (format === "zip") await extractZip(archivePath, extraction);
    else await extractTar(archivePath, format === "tar.gz", extraction);
  } catch (err) {
    await removeWritten(root, existed);
    throw toArchiveError(err, format);
  }
  return {
    files: extraction.files.sort(),
    ignored: extraction.ignored,
    ignoredCount: extraction.ignoredCount,
    oversized: extraction.oversized.sort(),
  };
}

/** Bounds how many async tasks run at once. */
class Slots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async acquire(): Promise<void> {
    if (this.busy < this.size) {
      this.busy++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy--;
  }
}

/**
 * Turns an entry name into a safe relative POSIX path (`.` and empty segments dropped), or throws
 * 400 `UNSAFE_ARCHIVE` for NUL bytes, absolute paths (`/x`, `C:\x`, `\\server`) and `..` segments.
 */
export function safeEntryPath(name: string): string {
  if (name.includes("\0")) throw unsafe(name, "contains a NUL byte");
  const unified = name.replaceAll("\\", "/");
  if (unified.startsWith("/") || /^[A-Za-z]:/.test(unified)) throw unsafe(name, "is an absolute path");
  const segments = unified.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw unsafe(name, "leaves the destination folder");
  return segments.join("/");
}

/** Whether a safe relative path is junk: `__MACOSX/`, a hidden segment, `Thumbs.db` or `desktop.ini`. */
export function isJunkPath(relPath: string): boolean {
  const segments = relPath.split("/");
  const base = segments[segments.length - 1].toLowerCase();
  return JUNK_NAMES.has(base) || segments.some((s) => s === "__MACOSX" || s.startsWith("."));
}

class Extraction implements ArchiveSink {
  readonly files: string[] = [];
  readonly ignored: string[] = [];
  readonly oversized: string[] = [];
  ignoredCount = 0;
  private bytes = 0;
  private entries = 0;
  private accepted = 0;
  private readonly slots: Slots;
  /** Folders already created for buffered files. */
  private readonly made = new Set<string>();

  constructor(
    private readonly root: string,
    readonly limits: ExtractLimits,
    private readonly options: ExtractOptions = {},
  ) {
    this.slots = new Slots(Math.max(1, options.concurrency ?? 8));
  }

  private ignore(rel: string): void {
    if (this.ignoredCount++ < MAX_LISTED_IGNORED) this.ignored.push(rel);
  }

  read(bytes: number): void {
    this.options.onRead?.(bytes);
  }

  accept(name: string, kind: EntryKind): string | null {
    const rel = safeEntryPath(name);
    if (kind !== "file" && kind !== "directory") throw unsafe(name, `is a ${kind}, only files are allowed`);
    const target = path.resolve(this.root, rel);
    if (target !== this.root && !target.startsWith(this.root + path.sep)) {
      throw unsafe(name, "leaves the destination folder");
    }
    if (++this.entries > this.limits.maxFiles * 4 + 1000) {
      throw new PayloadTooLargeError(`archive has more than ${this.limits.maxFiles * 4 + 1000} entries`);
    }
    if (kind === "directory") {
      if (rel !== "") this.ignore(`${rel}/`);
      return null;
    }
    if (rel === "") throw unsafe(name, "has no file name");
    if (isJunkPath(rel) || this.options.keep?.(rel) === false) {
      this.ignore(rel);
      return null;
    }
    if (++this.accepted > this.limits.maxFiles) {
      throw new PayloadTooLargeError(`archive has more than ${this.limits.maxFiles} files`);
    }
    return rel;
  }

  count(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes > this.limits.maxUnpackedBytes) {
      throw new PayloadTooLargeError(
        `archive unpacks to more than ${this.limits.maxUnpackedBytes} bytes (the limit)`,
      );
    }
  }

  async write(rel: string, body: AsyncIterable<Buffer>): Promise<void> {
    const target = path.resolve(this.root, rel);
    try {
      if (this.options.onFile) {
        await this.slots.acquire();
        try {
          await this.writeBuffered(rel, target, body, this.options.onFile);
        } finally {
          this.slots.release();
        }
        return;
      }
      await mkdir(path.dirname(target), { recursive: true });
      const count = (bytes: number) => this.count(bytes);
      const counted = async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          count(chunk.length);
          yield chunk;
        }
      };
      await pipeline(body, counted, createWriteStream(target, { flags: "wx" }));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENAMETOOLONG") {
        throw new BadRequestError(
          `archive entry ${quote(rel)} has a name too long to store`,
          "INVALID_ARCHIVE",
        );
      }
      if (code && CONFLICT_CODES.has(code)) {
        throw new BadRequestError(
          `archive entry ${quote(rel)} is duplicated or clashes with a folder`,
          "INVALID_ARCHIVE",
        );
      }
      throw err;
    }
    this.files.push(rel);
  }

  private async writeBuffered(
    rel: string,
    target: string,
    body: AsyncIterable<Buffer>,
    onFile: (rel: string, bytes: Buffer) => Promise<void>,
  ): Promise<void> {
    const max = this.options.maxFileBytes ?? 64 * 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      this.count(chunk.length);
      size += chunk.length;
      if (size <= max) chunks.push(chunk);
      else chunks.length = 0;
    }
    if (size > max) {
      this.oversized.push(rel);
      return;
    }
    const bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
    if (this.options.writeFiles !== false) {
      const dir = path.dirname(target);
      if (!this.made.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.made.add(dir);
      }
      await writeFile(target, bytes, { flag: "wx" });
    }
    this.files.push(rel);
    await onFile(rel, bytes);
  }
}

/**
 * The format of an archive file from its magic bytes.
 *
 * @throws BadRequestError `EMPTY_UPLOAD` for an empty file, `INVALID_ARCHIVE` for anything but zip or tar.
 */
export async function sniffFormat(archivePath: string): Promise<"zip" | "tar" | "tar.gz"> {
  const handle = await open(archivePath, "r");
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead === 0) throw new BadRequestError("the uploaded file is empty", "EMPTY_UPLOAD");
    if (
      head[0] === 0x50 &&
      head[1] === 0x4b &&
      ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6))
    ) {
      return "zip";
    }
    if (head[0] === 0x1f && head[1] === 0x8b) return "tar.gz";
    if (bytesRead >= 262 && head.toString("latin1", 257, 262) === "ustar") return "tar";
  } finally {
    await handle.close();
  }
  throw new BadRequestError("not a zip or tar archive", "INVALID_ARCHIVE");
}

async function prepareDestination(root: string): Promise<boolean> {
  try {
    const existing = await readdir(root);
    if (existing.length > 0) throw new Error(`extraction folder ${root} is not empty`);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(root, { recursive: true });
  return false;
}

async function removeWritten(root: string, keepRoot: boolean): Promise<void> {
  if (!keepRoot) {
    await rm(root, { recursive: true, force: true });
    return;
  }
  const children = await readdir(root).catch(() => []);
  await Promise.all(children.map((child) => rm(path.join(root, child), { recursive: true, force: true })));
}

function toArchiveError(err: unknown, format: string): unknown {
  if (err instanceof AppError || !(err instanceof Error)) return err;
  if ("syscall" in err) return err;
  if (YAUZL_UNSAFE.test(err.message)) {
    return new BadRequestError(`unsafe archive entry: ${err.message}`, "UNSAFE_ARCHIVE");
  }
  if (err.message.startsWith("max decompression ratio exceeded")) {
    return new PayloadTooLargeError(`archive decompresses too much: ${err.message}`);
  }
  return new BadRequestError(`invalid ${format} archive: ${err.message}`, "INVALID_ARCHIVE");
}

function unsafe(name: string, reason: string): BadRequestError {
  return new BadRequestError(`unsafe archive entry ${quote(name)}: ${reason}`, "UNSAFE_ARCHIVE");
}

function quote(name: string): string {
  return JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);
}
