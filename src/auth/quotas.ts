import type { Context } from "../context.js";
import { ForbiddenError } from "../errors.js";
import { tenantOf } from "./tenant.js";

/**
 * Refuses (`403 QUOTA_EXCEEDED`) a new dataset of `incomingBytes` for a tenant at its QUOTA_DATASETS or
 * over its QUOTA_STORAGE_MB (the uploaded sizes of its datasets).
 */
export async function assertDatasetQuota(ctx: Context, tenant: string, incomingBytes: number): Promise<void> {
  const { QUOTA_DATASETS: maxCount, QUOTA_STORAGE_MB: maxMb } = ctx.config;
  if (maxCount === 0 && maxMb === 0) return;
  const mine = (await ctx.datasets.list()).filter((d) => tenantOf(d) === tenant);
  if (maxCount > 0 && mine.length >= maxCount) {
    throw new ForbiddenError(
      `tenant '${tenant}' has ${mine.length} datasets, its quota (QUOTA_DATASETS); delete one first`,
      "QUOTA_EXCEEDED",
    );
  }
  const used = mine.reduce((sum, d) => sum + (d.bytes ?? 0), 0);
  if (maxMb > 0 && used + incomingBytes > maxMb * 1024 ** 2) {
    throw new ForbiddenError(
      `tenant '${tenant}' stores ${(used / 1024 ** 2).toFixed(1)} MiB of datasets; this upload would pass its ` +
        `quota of ${maxMb} MiB (QUOTA_STORAGE_MB)`,
      "QUOTA_EXCEEDED",
    );
  }
}

/** Refuses (`403 QUOTA_EXCEEDED`) a new job for a tenant with QUOTA_CONCURRENT_JOBS queued or running. */
export async function assertJobQuota(ctx: Context, tenant: string): Promise<void> {
  const max = ctx.config.QUOTA_CONCURRENT_JOBS;
  if (max === 0) return;
  let active = 0;
  for (const state of ["queued", "running"] as const) {
    active += (await ctx.jobs.list({ state, tenant, limit: max })).length;
  }
  if (active >= max) {
    throw new ForbiddenError(
      `tenant '${tenant}' has ${active} queued or running jobs, its quota (QUOTA_CONCURRENT_JOBS); wait for one to finish`,
      "QUOTA_EXCEEDED",
    );
  }
}
