import { Worker } from "node:worker_threads";

/** Options of {@link LockKeeper.start}. */
export interface LockKeeperOptions {
  redisUrl: string;
  /** The workers' lock duration (WORKER_LOCK_MS): each renewal sets the lock to expire this long after. */
  lockMs: number;
  /** Locks are renewed every `lockMs / 4` (the default). */
  everyMs?: number;
  /**
   * How long the main thread may go without a tick before its locks are left to lapse (a main loop stuck
   * for good gives its jobs up); default `max(60 s, 6 x lockMs)`.
   */
  maxBlockMs?: number;
}

/**
 * Renews the BullMQ locks of a worker process's jobs from a thread of its own, so that a main thread busy
 * for seconds (decoding, a large synchronous step) does not lose its jobs to the stalled-job check, and the
 * lock can be short: a process that dies or freezes stops renewing, and its jobs go to another worker once
 * the lock lapses. BullMQ's own renewal on the main thread goes on beside it. Renewal stops for the locks
 * of a main thread that has not ticked for `maxBlockMs`.
 */
export class LockKeeper {
  private readonly tick: NodeJS.Timeout;

  private constructor(
    private readonly thread: Worker,
    lastTick: BigInt64Array,
  ) {
    Atomics.store(lastTick, 0, BigInt(Date.now()));
    this.tick = setInterval(() => Atomics.store(lastTick, 0, BigInt(Date.now())), 250);
    this.tick.unref();
    thread.unref();
  }

  /** Starts the keeper's thread. */
  static start(o: LockKeeperOptions): LockKeeper {
    const tick = new SharedArrayBuffer(8);
    const thread = new Worker(new URL("./lock-keeper-thread.mjs", import.meta.url), {
      workerData: {
        redisUrl: o.redisUrl,
        ttlMs: o.lockMs,
        everyMs: o.everyMs ?? Math.max(100, Math.floor(o.lockMs / 4)),
        maxBlockMs: o.maxBlockMs ?? Math.max(60_000, 6 * o.lockMs),
        tick,
      },
    });
    return new LockKeeper(thread, new BigInt64Array(tick));
  }

  /** Keeps renewing `key` while it holds `token` (BullMQ's lock of one job attempt). */
  hold(key: string, token: string): void {
    this.thread.postMessage({ type: "hold", key, token });
  }

  /** Stops renewing `key`. */
  release(key: string): void {
    this.thread.postMessage({ type: "release", key });
  }

  /** Stops the thread (the locks it held then lapse unless BullMQ renews them). */
  async close(): Promise<void> {
    clearInterval(this.tick);
    const exited = new Promise((resolve) => this.thread.once("exit", resolve));
    this.thread.postMessage({ type: "stop" });
    await exited;
  }
}
