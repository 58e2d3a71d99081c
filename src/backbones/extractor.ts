import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ImageError } from "../errors.js";
import { Rng } from "../lib/rng.js";
import { contentHash, FeatureCache } from "./feature-cache.js";
import { preprocessImage } from "./preprocess.js";
import type { LoadedBackbone } from "./registry.js";

/** Progress of an extraction run. */
export interface ExtractProgress {
  done: number;
  total: number;
  cached: number;
  failed: number;
  imagesPerSec: number;
}

/** Options of {@link extractFeatures}. */
export interface ExtractOptions {
  /** Images per backbone pass (default 32). */
  batchSize?: number;
  /** Images read and decoded at once, pipelined with the backbone (default 4). */
  concurrency?: number;
  cache?: FeatureCache;
  /** 0 (default) is the evaluation transform; n >= 1 is the n-th augmented view of each image. */
  view?: number;
  /** Seed of augmented views: the view of an image is a function of (seed, image content, view). */
  augmentSeed?: number;
  maxPixels?: number;
  onProgress?: (p: ExtractProgress) => void;
  /** Polled between images; extraction stops early (features of unprocessed items stay zero). */
  shouldStop?: () => boolean;
}

/** Result of {@link extractFeatures}: `features` holds n * featureDim floats, zero where `ok` is false. */
export interface ExtractOutcome {
  features: Float32Array;
  ok: boolean[];
  errors: { index: number; reason: string }[];
  cached: number;
  /** Images that went through the backbone (cache misses). */
  computed: number;
  stopped: boolean;
}

interface Batch {
  input: Float32Array;
  slots: { index: number; hash: string; ok: boolean }[];
  pending: number;
  sealed: boolean;
  queued: boolean;
}

/** An image to extract: a file path, its bytes, or a function that reads them. */
export type ImageSource = string | Uint8Array | (() => Promise<Uint8Array>);

/**
 * Turns images (file paths, bytes or readers) into feature vectors: reads, hashes and decodes several at once while
 * the backbone runs the previous batch; cache hits skip decoding and the backbone. A bad image becomes a
 * per-item error with a reason and never stops the batch.
 */
export async function extractFeatures(
  sources: readonly ImageSource[],
  backbone: LoadedBackbone,
  options: ExtractOptions = {},
): Promise<ExtractOutcome> {
  const { manifest, session } = backbone;
  const p = manifest.preprocessing;
  const dim = manifest.featureDim;
  const per = 3 * p.inputSize * p.inputSize;
  const batchSize = options.batchSize ?? 32;
  const view = options.view ?? 0;
  const cache = options.cache;
  const ns = FeatureCache.namespace(backbone.hash, p);
  const viewKey = FeatureCache.viewKey(view, options.augmentSeed ?? 0);
  const present = cache ? await cache.entries(ns) : undefined;
  /** A failed cache write (a full disk) stops caching for this run; the features are still returned. */
  let cacheFailed = false;
  const n = sources.length;
  const out: ExtractOutcome = {
    features: new Float32Array(n * dim),
    ok: new Array(n).fill(false),
    errors: [],
    cached: 0,
    computed: 0,
    stopped: false,
  };
  const started = performance.now();
  let done = 0;
  const progress = () => {
    const secs = (performance.now() - started) / 1000;
    options.onProgress?.({
      done,
      total: n,
      cached: out.cached,
      failed: out.errors.length,
      imagesPerSec: secs > 0 ? done / secs : 0,
    });
  };
  const fail = (index: number, reason: string) => {
    out.errors.push({ index, reason });
    done++;
  };

  const ready: Batch[] = [];
  let current: Batch | undefined;
  let wake: (() => void) | undefined;
  let producersLeft = Math.max(1, options.concurrency ?? 4);
  const signal = () => {
    wake?.();
    wake = undefined;
  };
  const enqueueIfDone = (b: Batch) => {
    if (b.sealed && b.pending === 0 && !b.queued) {
      b.queued = true;
      ready.push(b);
      signal();
    }
  };
  const seal = (b: Batch) => {
    b.sealed = true;
    enqueueIfDone(b);
  };
  /** Input buffers of batches already run, reused: a fresh 19 MB buffer per batch kept the GC busy. */
  const spare: Float32Array[] = [];
  const slot = (index: number, hash: string) => {
    if (!current)
      current = {
        input: spare.pop() ?? new Float32Array(batchSize * per),
        slots: [],
        pending: 0,
        sealed: false,
        queued: false,
      };
    const b = current;
    const s = { index, hash, ok: false };
    const offset = b.slots.length * per;
    b.slots.push(s);
    b.pending++;
    if (b.slots.length === batchSize) {
      current = undefined;
      b.sealed = true;
    }
    return { b, s, offset };
  };
  const release = (b: Batch) => {
    b.pending--;
    enqueueIfDone(b);
  };

  let next = 0;
  const produce = async () => {
    while (next < n) {
      if (options.shouldStop?.()) {
        out.stopped = true;
        break;
      }
      while (ready.length >= 2) await new Promise<void>((r) => setTimeout(r, 1));
      if (next >= n) break;
      const index = next++;
      let bytes: Uint8Array;
      try {
        const src = sources[index];
        bytes = typeof src === "string" ? await readFile(src) : typeof src === "function" ? await src() : src;
      } catch (err) {
        fail(index, `cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        continue;
      }
      const hash = contentHash(bytes);
      const hit = present?.has(`${hash}-${viewKey}`) ? await cache!.get(ns, hash, viewKey, dim) : undefined;
      if (hit) {
        out.features.set(hit, index * dim);
        out.ok[index] = true;
        out.cached++;
        done++;
        continue;
      }
      const { b, s, offset } = slot(index, hash);
      try {
        const augment = view > 0 ? new Rng(viewSeed(options.augmentSeed ?? 0, hash, view)) : undefined;
        await preprocessImage(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), p, {
          augment,
          maxPixels: options.maxPixels,
          out: b.input,
          offset,
        });
        s.ok = true;
      } catch (err) {
        fail(
          index,
          err instanceof ImageError ? err.reason : `cannot decode image: ${(err as Error).message}`,
        );
      }
      release(b);
    }
    if (--producersLeft === 0) {
      if (current) seal(current);
      current = undefined;
      signal();
    }
  };

  const consume = async () => {
    for (;;) {
      const b = ready.shift();
      if (!b) {
        if (producersLeft === 0 && !current) break;
        await new Promise<void>((r) => {
          wake = r;
        });
        continue;
      }
      const live = b.slots.filter((s) => s.ok);
      if (live.length > 0) {
        const feats = await session.run(b.input, b.slots.length);
        out.computed += live.length;
        for (let i = 0; i < b.slots.length; i++) {
          const s = b.slots[i];
          if (!s.ok) continue;
          const v = feats.subarray(i * dim, (i + 1) * dim);
          out.features.set(v, s.index * dim);
          out.ok[s.index] = true;
          done++;
          if (cache && !cacheFailed) {
            try {
              cache.set(ns, s.hash, viewKey, v);
            } catch {
              cacheFailed = true;
            }
          }
        }
      }
      spare.push(b.input);
      progress();
    }
  };

  const producers = Array.from({ length: producersLeft }, produce);
  await Promise.all([...producers, consume()]);
  progress();
  out.errors.sort((a, b) => a.index - b.index);
  return out;
}

function viewSeed(seed: number, hash: string, view: number): number {
  return createHash("sha256").update(`${seed}:${hash}:${view}`).digest().readUInt32LE(0);
}
