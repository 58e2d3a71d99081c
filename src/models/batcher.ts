import type { BackboneSession } from "../backbones/runtime/types.js";
import { predictBatchSize } from "../ops/metrics.js";

interface Pending {
  input: Float32Array;
  resolve: (features: Float32Array) => void;
  reject: (err: unknown) => void;
}

/**
 * Groups single-image backbone requests into batches, one batch running at a time. While the backbone is
 * busy, arrivals queue up and form the next batch (up to `maxBatch`). When it is idle, a request runs at
 * once, or, with `waitMs` > 0, after waiting that long for company (or until the batch is full).
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
    if (input.length !== this.perImage) {
      return Promise.reject(
        new RangeError(`expected ${this.perImage} values per image, got ${input.length}`),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (this.queue.length >= this.maxBatch || (this.waitMs === 0 && !this.running)) this.kick();
      else if (!this.running) this.timer ??= setTimeout(() => this.kick(), this.waitMs);
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
      if (this.queue.length > 0) this.kick();
    });
  }

  private async flush(batch: Pending[]): Promise<void> {
    const n = batch.length;
    const input = new Float32Array(n * this.perImage);
    for (const [i, p] of batch.entries()) input.set(p.input, i * this.perImage);
    try {
      const out = await this.session.run(input, n);
      this.stats.batches++;
      predictBatchSize.observe(n);
      this.stats.images += n;
      for (const [i, p] of batch.entries())
        p.resolve(out.slice(i * this.featureDim, (i + 1) * this.featureDim));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
