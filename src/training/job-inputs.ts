import type { LoadedBackbone } from "../backbones/registry.js";
import type { Context } from "../context.js";
import { AppError } from "../errors.js";
import { JobFailure } from "../jobs/job-error.js";

/** Codes of {@link loadJobInputs}'s failures: a dataset gone since the job was queued, an unknown backbone. */
export type JobInputErrorCode = "DATASET_DELETED" | "UNKNOWN_BACKBONE";

/**
 * Loads what a job refers to (its dataset, the dataset's items, the backbone), failing for good
 * ({@link JobFailure}) when the dataset is gone or the backbone unknown.
 */
export async function loadJobInputs(ctx: Context, jobId: string, datasetId: string, backboneId: string) {
  const dataset = await ctx.datasets.get(datasetId).catch(() => {
    throw new JobFailure<JobInputErrorCode>("DATASET_DELETED", `dataset '${datasetId}' no longer exists`);
  });
  const items = await ctx.datasets.items(datasetId);
  let backbone: LoadedBackbone;
  try {
    backbone = await ctx.registry.load(backboneId);
  } catch (err) {
    if (err instanceof AppError && err.statusCode < 500)
      throw new JobFailure<JobInputErrorCode>("UNKNOWN_BACKBONE", err.message);
    throw err;
  }
  ctx.logger.debug({ jobId, backbone: backboneId, hash: backbone.hash }, "job inputs loaded");
  return { dataset, items, backbone };
}
