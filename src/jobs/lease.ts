import type { Job } from "bullmq";
import type { Redis } from "ioredis";
import type { LockKeeper } from "./lock-keeper.js";

/** The job's lock still holds our token: its remaining time in ms; else -3. */
const OWNED_FOR = `
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PTTL", KEYS[1]) end
return -3`;

/** Time kept in hand before the lock's expiry, for clock drift and the write that follows a check. */
const MARGIN_MS = 1000;

/** Thrown when a worker finds that it no longer owns its job: it stops and writes nothing more. */
export class LeaseLostError extends Error {
  constructor(jobId: string) {
    super(`lost the lock of job '${jobId}': another worker owns it now; stopping without writing`);
    this.name = "LeaseLostError";
  }
}

/**
 * A worker's ownership of one BullMQ job, read from the job's lock (the token BullMQ gave this attempt and
 * the lock's expiry). BullMQ renews the lock while the worker is alive and can reach Redis; when it cannot
 * (Redis away, the process frozen), the lock expires and another worker may take the job. So every write
 * of the job (checkpoint, record, model) first calls {@link Lease.assertHeld}, which trusts the expiry last
 * seen (minus a margin) and re-reads the lock after that, waiting for Redis if it is away; and the
 * training loop stops at the next batch once a background check saw the lock gone ({@link Lease.lost}).
 */
export class Lease {
  private validUntil: number;
  private revoked = false;
  private readonly timer?: NodeJS.Timeout;

  /**
   * @param redis a connection to the queue's Redis.
   * @param lockKey BullMQ's lock key of the job (`<prefix>:<queue>:<jobId>:lock`).
   * @param token the lock token of this attempt (the processor's second argument).
   * @param jobId for messages.
   * @param keeper renews the lock from a thread of its own while the lease lasts.
   */
  constructor(
    private readonly redis: Redis | undefined,
    private readonly lockKey: string,
    private readonly token: string,
    private readonly jobId: string,
    lockDurationMs: number,
    private readonly keeper?: LockKeeper,
  ) {
    this.validUntil = Date.now() + lockDurationMs / 2 - MARGIN_MS;
    if (!redis) return;
    keeper?.hold(lockKey, token);
    this.timer = setInterval(
      () => void this.check().catch(() => undefined),
      Math.min(1000, lockDurationMs / 4),
    );
    this.timer.unref();
  }

  /** The lease of a BullMQ job's current attempt. */
  static of(redis: Redis, job: Job, token: string, lockDurationMs: number, keeper?: LockKeeper): Lease {
    return new Lease(
      redis,
      `${job.queueQualifiedName}:${job.id}:lock`,
      token,
      String(job.id),
      lockDurationMs,
      keeper,
    );
  }

  /** A lease that never fails its checks: for a job run without a BullMQ lock token. */
  static none(jobId: string): Lease {
    return new Lease(undefined, "", "", jobId, Number.POSITIVE_INFINITY);
  }

  /** True once the lock was seen gone or held by another attempt: stop at the next batch. */
  get lost(): boolean {
    return this.revoked;
  }

  /**
   * Resolves while this worker owns the job; re-reads the lock when the last confirmation is too old
   * (waiting for Redis if it is away: nothing is written meanwhile).
   *
   * @throws LeaseLostError when the lock is gone or belongs to another attempt.
   */
  async assertHeld(): Promise<void> {
    if (!this.revoked && Date.now() > this.validUntil) await this.check();
    if (this.revoked) throw new LeaseLostError(this.jobId);
  }

  /** Stops re-reading the lock in the background, and renewing it. */
  stop(): void {
    clearInterval(this.timer);
    if (this.redis) this.keeper?.release(this.lockKey);
  }

  private async check(): Promise<void> {
    if (this.revoked || !this.redis) return;
    const asked = Date.now();
    const ms = Number(await this.redis.eval(OWNED_FOR, 1, this.lockKey, this.token));
    if (ms < 0) {
      this.revoked = true;
      return;
    }
    this.validUntil = Math.max(this.validUntil, asked + ms - MARGIN_MS);
  }
}
