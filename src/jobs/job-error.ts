import { UnrecoverableError } from "bullmq";

/** How a failed job explains itself in its record: an API error code and a message for people. */
export interface JobErrorInfo<C extends string = string> {
  code: C;
  message: string;
}

/**
 * A failure a job handler expects, with its code as data. It extends BullMQ's `UnrecoverableError`: the
 * input will never work (a deleted dataset, no usable image), so BullMQ does not retry the job.
 */
export class JobFailure<C extends string = string> extends UnrecoverableError {
  /** Never retried. */
  readonly retryable = false;

  constructor(
    readonly code: C,
    message: string,
  ) {
    super(message);
  }

  /** The failure as a job record shows it. */
  toInfo(): JobErrorInfo<C> {
    return { code: this.code, message: this.message };
  }
}

/**
 * A failure a handler expects that may pass (a busy resource): BullMQ retries the job while it has
 * attempts left; after the last one, the record shows this code and message.
 */
export class RetryableJobFailure<C extends string = string> extends Error {
  /** Retried while the job has attempts left. */
  readonly retryable = true;

  constructor(
    readonly code: C,
    message: string,
  ) {
    super(message);
    this.name = "RetryableJobFailure";
  }

  /** The failure as a job record shows it. */
  toInfo(): JobErrorInfo<C> {
    return { code: this.code, message: this.message };
  }
}

/** Either kind of expected failure. */
export type AnyJobFailure<C extends string = string> = JobFailure<C> | RetryableJobFailure<C>;

/** Whether `err` is an expected failure (a code as data), retryable or not. */
export function isJobFailure(err: unknown): err is AnyJobFailure {
  return err instanceof JobFailure || err instanceof RetryableJobFailure;
}

/**
 * Thrown by a handler when its worker is shutting down and the job's progress is saved (a checkpoint): the
 * job goes back to the queue, neither failed nor retried, for another worker to resume.
 */
export class HandBackError extends Error {
  constructor() {
    super("worker shutting down: job handed back after its checkpoint");
    this.name = "HandBackError";
  }
}
