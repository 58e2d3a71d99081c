import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { Response } from "supertest";
import request from "supertest";
import yazl from "yazl";
import { type PhotoClass, photo } from "../../scripts/lib/photos.js";
import type { Dataset } from "../../src/datasets/schemas.js";
import { type Stack, waitFor } from "./stack.js";

/** One archive entry: a regular file (default), a folder, or a symbolic or hard link to `target`. */
export interface RawEntry {
  name: string;
  data?: Buffer;
  kind?: "file" | "dir" | "symlink" | "hardlink";
  target?: string;
}

/** A ustar header written by hand, so that any name (`../x`, `/abs`) and any type can be stored. */
export function tarHeader(name: string, size: number, type = "0", linkname = ""): Buffer {
  const h = Buffer.alloc(512);
  assert.ok(Buffer.byteLength(name) <= 100, `tar name too long: ${name}`);
  h.write(name, 0, 100, "utf8");
  h.write(type === "5" ? "0000755\0" : "0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  h.write(`${Math.floor(Date.now() / 1000).toString(8)}\0`, 136);
  h.write("        ", 148);
  h.write(type, 156);
  h.write(linkname, 157);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/** A tar archive (in memory) of the entries, in order, names stored verbatim. */
export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.kind === "file" || e.kind === undefined ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const type = { file: "0", hardlink: "1", symlink: "2", dir: "5" }[e.kind ?? "file"];
    blocks.push(tarHeader(e.name, body.length, type, e.target), body);
    blocks.push(Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A gzipped {@link rawTar}. */
export function rawTarGz(entries: RawEntry[]): Buffer {
  return gzipSync(rawTar(entries));
}

/**
 * A zip archive (in memory) of the entries, names stored verbatim: yazl refuses `..` and absolute names,
 * so such an entry is added under a same-length placeholder and patched afterwards in both the local
 * header and the central directory. A symlink is an entry with unix mode 0120777 whose body is its target.
 */
export async function rawZip(entries: RawEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const patches: [Buffer, Buffer][] = [];
  for (const e of entries) {
    let name = e.name;
    if (name.startsWith("/") || name.split("/").includes("..")) {
      const placeholder = `p${randomBytes(Math.ceil(name.length / 2)).toString("hex")}`.slice(0, name.length);
      patches.push([Buffer.from(placeholder), Buffer.from(name)]);
      name = placeholder;
    }
    if (e.kind === "dir") zip.addEmptyDirectory(name);
    else if (e.kind === "hardlink") throw new Error("zip has no hard links");
    else if (e.kind === "symlink") zip.addBuffer(Buffer.from(e.target ?? ""), name, { mode: 0o120777 });
    else zip.addBuffer(e.data ?? Buffer.alloc(0), name);
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  for (const [from, to] of patches) {
    let found = 0;
    for (let i = bytes.indexOf(from); i !== -1; i = bytes.indexOf(from, i + 1), found++) to.copy(bytes, i);
    assert.equal(found, 2, "name patched in the local header and the central directory");
  }
  return bytes;
}

/** `count` image entries per class under `prefix` (e.g. `train/`), each the class's real photo. */
export function imageEntries(classes: PhotoClass[], count: number, prefix = ""): RawEntry[] {
  return classes.flatMap((cls) =>
    Array.from({ length: count }, (_, i) => ({ name: `${prefix}${cls}/${cls}_${i}.jpg`, data: photo(cls) })),
  );
}

/** A JPEG cut short: valid header, missing most of its scan data. */
export function truncatedJpeg(): Buffer {
  return photo("cat").subarray(0, 1500);
}

/** A path in the OS temp folder (outside any DATA_DIR) that a malicious archive aims at. */
export function sentinelPath(): string {
  return path.join(os.tmpdir(), `evil-${randomUUID().slice(0, 13)}`);
}

/** An entry name that climbs out of any extraction folder and lands on `target` (an absolute path). */
export function climbingName(target: string): string {
  return `${"../".repeat(12)}${target.replace(/^\/+/, "")}`;
}

/** Asserts a response is `{"error": {"code", "message"}}` with the given status and code. */
export function assertError(res: Response, status: number, code?: string): void {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
  assert.match(String(res.headers["content-type"]), /application\/json/);
  assert.deepEqual(Object.keys(res.body), ["error"]);
  assert.equal(typeof res.body.error.code, "string");
  assert.match(res.body.error.code, /^[A-Z][A-Z0-9_]*$/);
  assert.equal(typeof res.body.error.message, "string");
  assert.ok(res.body.error.message.length > 0, "error message is empty");
  if (code !== undefined) assert.equal(res.body.error.code, code, res.body.error.message);
}

/** POSTs an archive to /v1/datasets as multipart field `file`. */
export function uploadDataset(stack: Stack, bytes: Buffer, filename: string, name?: string) {
  const req = request(stack.app.server).post("/v1/datasets");
  if (name !== undefined) req.field("name", name);
  return req.attach("file", bytes, filename);
}

/** Polls a dataset until its ingestion has ended; returns its record (state `ready` or `failed`). */
export async function waitForDataset(stack: Stack, id: string): Promise<Dataset> {
  return waitFor(
    async () => {
      const res = await request(stack.app.server).get(`/v1/datasets/${id}`);
      assert.equal(res.status, 200, res.text);
      return res.body.state === "ingesting" ? undefined : (res.body as Dataset);
    },
    120_000,
    `ingestion of dataset ${id}`,
  );
}

/** Uploads an archive (asserting 202 `ingesting` with a Location) and returns the dataset once ingested. */
export async function ingestDataset(
  stack: Stack,
  bytes: Buffer,
  filename = "data.zip",
  name?: string,
): Promise<Dataset> {
  const res = await uploadDataset(stack, bytes, filename, name);
  assert.equal(res.status, 202, res.text);
  assert.equal(res.body.state, "ingesting");
  assert.equal(res.headers.location, `/v1/datasets/${res.body.id}`);
  return waitForDataset(stack, res.body.id);
}

/** Uploads an archive and returns the created dataset's id, asserting that it became ready. */
export async function createDataset(stack: Stack, bytes: Buffer, filename = "data.zip"): Promise<string> {
  const dataset = await ingestDataset(stack, bytes, filename);
  assert.equal(dataset.state, "ready", JSON.stringify(dataset.error));
  return dataset.id;
}

/** Asserts that an ingestion failed with `code`, keeping only its record (no files, no upload). */
export async function assertIngestFailed(stack: Stack, dataset: Dataset, code: string): Promise<void> {
  assert.equal(dataset.state, "failed", `expected failed ${code}, got ${dataset.state}`);
  assert.equal(dataset.error?.code, code, dataset.error?.message);
  assert.ok((dataset.error?.message.length ?? 0) > 0);
  const left = await readdir(path.join(stack.dataDir, "datasets", dataset.id));
  assert.deepEqual(left, ["dataset.json"], "a failed dataset keeps only its record");
}

/** Asserts an upload left nothing behind: no partial dataset folder and no upload file. */
export async function assertNoLeftovers(stack: Stack, keepDatasets: string[] = []): Promise<void> {
  const datasets = await readdir(path.join(stack.dataDir, "datasets")).catch(() => [] as string[]);
  assert.deepEqual(datasets.sort(), [...keepDatasets].sort(), "dataset folders left in DATA_DIR/datasets");
  const uploads = await readdir(path.join(stack.dataDir, "uploads")).catch(() => [] as string[]);
  assert.deepEqual(uploads, [], "upload files left in DATA_DIR/uploads");
}

/** Asserts that nothing exists at `target` (a path a malicious archive aimed at). */
export function assertAbsent(target: string): void {
  assert.equal(existsSync(target), false, `${target} was written outside DATA_DIR`);
}
