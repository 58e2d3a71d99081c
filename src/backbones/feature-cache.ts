import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Preprocessing } from "./manifest.js";

/**
 * Feature vectors on disk, keyed by image content hash, backbone (weights + output), preprocessing and
 * view ({@link FeatureCache.viewKey}: the evaluation transform, or an augmented view and its seed). One
 * small file per entry, written atomically.
 */
export class FeatureCache {
  private readonly dirs = new Set<string>();

  constructor(readonly root: string) {}

  /** The namespace of one backbone + preprocessing pair. */
  static namespace(backboneHash: string, preprocessing: Preprocessing): string {
    return createHash("sha256")
      .update(backboneHash)
      .update(JSON.stringify(preprocessing))
      .digest("hex")
      .slice(0, 24);
  }

  /**
   * The key of one view of an image: `0` for the evaluation transform; an augmented view also depends on
   * the seed its random choices are drawn from, so jobs with other seeds never share it.
   */
  static viewKey(view: number, augmentSeed: number): string {
    return view === 0 ? "0" : `${view}s${augmentSeed >>> 0}`;
  }

  private file(ns: string, contentHash: string, view: string): string {
    return path.join(this.root, ns, contentHash.slice(0, 2), `${contentHash}-${view}.f32`);
  }

  /** The cached vector, or undefined when absent or of the wrong size. */
  async get(ns: string, contentHash: string, view: string, dim: number): Promise<Float32Array | undefined> {
    try {
      const buf = await readFile(this.file(ns, contentHash, view));
      if (buf.byteLength !== dim * 4) return undefined;
      return new Float32Array(buf.buffer, buf.byteOffset, dim);
    } catch {
      return undefined;
    }
  }

  /**
   * The entries of a namespace on disk, as `<contentHash>-<view>` names: one directory listing instead of
   * a failed open per image on a cold cache.
   */
  async entries(ns: string): Promise<Set<string>> {
    const names = new Set<string>();
    const root = path.join(this.root, ns);
    const shards = await readdir(root).catch(() => [] as string[]);
    for (const shard of shards) {
      for (const f of await readdir(path.join(root, shard)).catch(() => [] as string[])) {
        if (f.endsWith(".f32")) names.add(f.slice(0, -4));
      }
    }
    return names;
  }

  /**
   * Stores a vector: a temporary file renamed into place, with synchronous calls (a few tens of
   * microseconds for 15 KB, far less than the promise round trips of the same calls per image).
   */
  set(ns: string, contentHash: string, view: string, features: Float32Array): void {
    const file = this.file(ns, contentHash, view);
    const dir = path.dirname(file);
    if (!this.dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.dirs.add(dir);
    }
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      writeFileSync(tmp, new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
}

/** SHA-256 of image bytes, the content part of a cache key. */
export function contentHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
