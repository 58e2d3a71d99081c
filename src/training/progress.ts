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

/** Shares of a training job's percent: extraction up to 60%, the heads up to 95%, evaluation the rest. */
const PHASE_SPAN = { extracting: [0, 60], training: [60, 95], evaluating: [95, 100] } as const;

/**
 * Whole-job progress of a training job from the fraction done of its current phase; the ETA extrapolates
 * the job's elapsed time (since this worker started it) over the percent still to go.
 */
export class JobProgress {
  private readonly started = performance.now();
  private readonly startPercent: number;
  private phase?: string;

  constructor(
    private readonly reporter: ProgressReporter,
    startPercent = 0,
  ) {
    this.startPercent = startPercent;
  }

  /**
   * Reports `fraction` (0..1) of `phase` done, with the phase's own step counters. The first report of a
   * phase is always written, whatever the reporter's interval: a reader never sees the previous phase
   * while the next one runs.
   */
  report(
    phase: keyof typeof PHASE_SPAN,
    fraction: number,
    fields: { epoch?: number; epochs?: number; step: number; steps: number; imagesPerSec?: number },
    force = false,
  ): void {
    const [lo, hi] = PHASE_SPAN[phase];
    const percent = Math.min(99.9, lo + (hi - lo) * Math.min(1, Math.max(0, fraction)));
    const secs = (performance.now() - this.started) / 1000;
    const gained = percent - this.startPercent;
    const eta = gained > 0.5 && secs > 1 ? (secs * (100 - percent)) / gained : null;
    const changed = phase !== this.phase;
    this.phase = phase;
    this.reporter.report({ phase, ...fields, percent, etaSeconds: eta }, force || changed);
  }
}
