import type { Progress } from "../jobs/schemas.js";

/** Sends progress at most once per interval (and always when forced), never two writes at once. */
export class ProgressReporter {
  private last = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (p: Progress) => Promise<void>,
    private readonly intervalMs = 1000,
  ) {}

  /** Queues a progress write when the interval has passed or `force` is set. */
  report(p: Progress, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < this.intervalMs) return;
    this.last = now;
    const rounded: Progress = {
      ...p,
      percent: Math.round(p.percent * 10) / 10,
      imagesPerSec: p.imagesPerSec === undefined ? undefined : Math.round(p.imagesPerSec * 10) / 10,
      etaSeconds: p.etaSeconds == null ? p.etaSeconds : Math.round(p.etaSeconds),
    };
    this.chain = this.chain.then(() => this.write(rounded)).catch(() => undefined);
  }

  /** Waits for the writes queued so far. */
  flush(): Promise<void> {
    return this.chain;
  }
}

/** Polls a cancel flag in the background so hot loops can read it synchronously. */
export class CancelWatch {
  cancelled = false;
  private readonly timer: NodeJS.Timeout;

  constructor(check: () => Promise<boolean>, intervalMs = 300) {
    this.timer = setInterval(() => {
      check().then(
        (v) => {
          if (v) this.cancelled = true;
        },
        () => undefined,
      );
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops polling. */
  stop(): void {
    clearInterval(this.timer);
  }
}
