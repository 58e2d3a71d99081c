import type { JobPayload } from "../../queues.js";
import { runTrainJob } from "../../training/train-job.js";
import type { JobOutcome, JobRun } from "../contract.js";
import type { JobResult } from "../record-sync.js";

/**
 * The `train` job: runs (or resumes from its checkpoint) the training of the job record's parameters; see
 * {@link runTrainJob}. Fails with `DATASET_DELETED`, `UNKNOWN_BACKBONE` or `NO_USABLE_IMAGES`; hands the job
 * back after an epoch's checkpoint when the worker drains.
 */
export function runTrainHandler({
  ctx,
  payload,
  log,
  draining,
  lease,
}: JobRun<JobPayload>): Promise<JobOutcome<JobResult>> {
  return runTrainJob({ ctx, jobId: payload.jobId, log, draining, lease });
}
