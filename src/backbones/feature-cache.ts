import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../lib/atomic.js";
import type { Preprocessing } from "./manifest.js";

/**
 * Feature vectors on disk, keyed by image content hash, backbone (weights + output), preprocessing and
 * view ({@link FeatureCache.viewKey}: the evaluation transform, or an augmented view and its seed). One small file per entry, written atomically.
 */
export class FeatureCache {
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

  /** Stores a vector. */
  async set(ns: string, contentHash: string, view: string, features: Float32Array): Promise<void> {
    await writeFileAtomic(
      this.file(ns, contentHash, view),
      new Uint8Array(features.buffer, features.byteOffset, features.byteLength),
      false,
    );
  }
}

/** SHA-256 of image bytes, the content part of a cache key. */
export function contentHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
