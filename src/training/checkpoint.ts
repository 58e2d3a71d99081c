import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../lib/atomic.js";
import type { HeadState, NamedArray } from "./head.js";

/** A resumable training state: completed epochs, head weights + optimizer, metric history, RNG state. */
export interface Checkpoint {
  epoch: number;
  head: HeadState;
  history: unknown[];
  rngState: number;
  extra?: Record<string, unknown>;
  /** Further named tensor lists saved with the head, e.g. the best epoch's weights. */
  sets?: Record<string, NamedArray[]>;
}

interface TensorEntry {
  name: string;
  shape: number[];
  dtype: "float32" | "int32";
  offset: number;
}

interface CheckpointJson {
  format: typeof FORMAT;
  seq: number;
  epoch: number;
  binary: string;
  sha256: string;
  byteLength: number;
  weights: TensorEntry[];
  optimizer: TensorEntry[];
  history: unknown[];
  rngState: number;
  extra?: Record<string, unknown>;
  sets?: Record<string, TensorEntry[]>;
}

const FORMAT = "head-checkpoint/1";
const JSON_NAME = /^ckpt-(\d{8})\.json$/;
const BIN_NAME = /^ckpt-\d{8}-[0-9a-f]{16}\.bin$/;

const pad = (seq: number) => String(seq).padStart(8, "0");

async function listCheckpoints(dir: string): Promise<{ names: string[]; seqs: number[] }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { names: [], seqs: [] };
    throw err;
  }
  const seqs = names.flatMap((n) => (JSON_NAME.test(n) ? [Number(JSON_NAME.exec(n)![1])] : []));
  return { names, seqs: seqs.sort((a, b) => b - a) };
}

function encode(arrays: NamedArray[], start: number, chunks: Buffer[]): TensorEntry[] {
  let offset = start;
  return arrays.map(({ name, shape, dtype, data }) => {
    if (data.length !== shape.reduce((a, b) => a * b, 1))
      throw new RangeError(`tensor ${name} has a bad shape`);
    chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const entry = { name, shape: [...shape], dtype, offset };
    offset += data.byteLength;
    return entry;
  });
}

function decode(entries: TensorEntry[], bin: Buffer): NamedArray[] {
  if (!Array.isArray(entries)) throw new Error("tensor list missing");
  return entries.map(({ name, shape, dtype, offset }) => {
    const length = shape.reduce((a, b) => a * b, 1);
    const end = offset + length * 4;
    if (!Number.isInteger(offset) || offset < 0 || end > bin.byteLength || !Number.isInteger(length)) {
      throw new Error(`tensor ${name} lies outside the binary`);
    }
    const bytes = bin.buffer.slice(bin.byteOffset + offset, bin.byteOffset + end);
    if (dtype === "float32") return { name, shape, dtype, data: new Float32Array(bytes) };
    if (dtype === "int32") return { name, shape, dtype, data: new Int32Array(bytes) };
    throw new Error(`tensor ${name} has unknown dtype ${dtype}`);
  });
}

async function readCheckpoint(dir: string, seq: number): Promise<Checkpoint> {
  const meta = JSON.parse(await readFile(path.join(dir, `ckpt-${pad(seq)}.json`), "utf8")) as CheckpointJson;
  if (meta.format !== FORMAT || !BIN_NAME.test(meta.binary)) throw new Error("not a head checkpoint");
  const bin = await readFile(path.join(dir, meta.binary));
  if (bin.byteLength !== meta.byteLength || createHash("sha256").update(bin).digest("hex") !== meta.sha256) {
    throw new Error("checkpoint binary does not match its hash");
  }
  if (!Number.isInteger(meta.epoch) || !Number.isInteger(meta.rngState) || !Array.isArray(meta.history)) {
    throw new Error("checkpoint fields are invalid");
  }
  const head = { weights: decode(meta.weights, bin), optimizer: decode(meta.optimizer, bin) };
  const ckpt: Checkpoint = { epoch: meta.epoch, head, history: meta.history, rngState: meta.rngState };
  if (meta.extra !== undefined) ckpt.extra = meta.extra;
  if (meta.sets !== undefined) {
    ckpt.sets = Object.fromEntries(Object.entries(meta.sets).map(([k, v]) => [k, decode(v, bin)]));
  }
  return ckpt;
}

/**
 * Saves a checkpoint into `dir`: first a binary `ckpt-<seq>-<hash>.bin` with every tensor, then the JSON
 * `ckpt-<seq>.json` naming it (both written to a temporary file and renamed), so a crash never pairs a
 * JSON with the wrong binary. Afterwards, everything but this checkpoint and the one before it is removed.
 */
export async function saveCheckpoint(dir: string, ckpt: Checkpoint): Promise<void> {
  await mkdir(dir, { recursive: true });
  const seq = ((await listCheckpoints(dir)).seqs[0] ?? 0) + 1;
  const chunks: Buffer[] = [];
  const weights = encode(ckpt.head.weights, 0, chunks);
  const size = () => chunks.reduce((a, c) => a + c.byteLength, 0);
  const optimizer = encode(ckpt.head.optimizer, size(), chunks);
  const sets = ckpt.sets
    ? Object.fromEntries(Object.entries(ckpt.sets).map(([k, v]) => [k, encode(v, size(), chunks)]))
    : undefined;
  const bin = Buffer.concat(chunks);
  const sha256 = createHash("sha256").update(bin).digest("hex");
  const binary = `ckpt-${pad(seq)}-${sha256.slice(0, 16)}.bin`;
  await writeFileAtomic(path.join(dir, binary), bin);
  const meta: CheckpointJson = {
    format: FORMAT,
    seq,
    epoch: ckpt.epoch,
    binary,
    sha256,
    byteLength: bin.byteLength,
    weights,
    optimizer,
    history: ckpt.history,
    rngState: ckpt.rngState,
    extra: ckpt.extra,
    sets,
  };
  await writeJsonAtomic(path.join(dir, `ckpt-${pad(seq)}.json`), meta);
  await prune(dir, seq, binary);
}

async function prune(dir: string, seq: number, binary: string): Promise<void> {
  const keep = new Set([`ckpt-${pad(seq)}.json`, binary, `ckpt-${pad(seq - 1)}.json`]);
  try {
    const previous = JSON.parse(await readFile(path.join(dir, `ckpt-${pad(seq - 1)}.json`), "utf8"));
    if (typeof previous.binary === "string") keep.add(previous.binary);
  } catch {
    // no usable previous checkpoint: nothing more to keep
  }
  const { names } = await listCheckpoints(dir);
  const stale = names.filter((n) => n.startsWith("ckpt-") && !keep.has(n));
  await Promise.all(stale.map((n) => rm(path.join(dir, n), { force: true })));
}

/**
 * Loads the newest valid checkpoint in `dir`, or undefined when there is none. A JSON that does not parse,
 * names a missing binary or one whose hash differs is skipped in favour of the previous checkpoint.
 */
export async function loadCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  for (const seq of (await listCheckpoints(dir)).seqs) {
    try {
      return await readCheckpoint(dir, seq);
    } catch {
      // corrupt or partial: fall back to the previous one
    }
  }
  return undefined;
}
