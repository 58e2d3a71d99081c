import type { BackboneSession } from "../backbones/runtime/types.js";

interface Pending {
  input: Float32Array;
  resolve: (features: Float32Array) => void;
  reject: (err: unknown) => void;
}

/**
 * Groups single-image backbone requests that arrive close together into one batch: a batch runs when it
 * is full or `waitMs` after its first image, whichever comes first; one batch runs at a time.
 */
export class MicroBatcher {
  private queue: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private running = false;
  /** Number of batches run and images in them, for logs and tests. */
  readonly stats = { batches: 0, images: 0 };

  constructor(
    private readonly session: BackboneSession,
    private readonly perImage: number,
    private readonly featureDim: number,
    private readonly maxBatch: number,
    private readonly waitMs: number,
  ) {}

  /** Features of one preprocessed image. */
  run(input: Float32Array): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.kick();
      else this.timer ??= setTimeout(() => this.kick(), this.waitMs);
    });
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.running = true;
    void this.flush(batch).finally(() => {
      this.running = false;
      if (this.queue.length >= this.maxBatch) this.kick();
      else if (this.queue.length > 0) this.timer ??= setTimeout(() => this.kick(), this.waitMs);
    });
  }

  private async flush(batch: Pending[]): Promise<void> {
    const n = batch.length;
    const input = new Float32Array(n * this.perImage);
    for (const [i, p] of batch.entries()) input.set(p.input, i * this.perImage);
    try {
      const out = await this.session.run(input, n);
      this.stats.batches++;
      this.stats.images += n;
      for (const [i, p] of batch.entries())
        p.resolve(out.slice(i * this.featureDim, (i + 1) * this.featureDim));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
