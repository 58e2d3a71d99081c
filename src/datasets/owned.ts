import type { FastifyRequest } from "fastify";
import { callerTenant, owned, tenantOf } from "../auth/tenant.js";
import type { Context } from "../context.js";
import { UnprocessableError } from "../errors.js";
import type { Dataset } from "./schemas.js";

/** The caller's dataset, or a 404 (also for another tenant's dataset). */
export async function datasetOf(ctx: Context, req: FastifyRequest, id: string): Promise<Dataset> {
  return owned(req, await ctx.datasets.get(id), "dataset", id);
}

/**
 * A ready dataset of the caller's tenant, for a new job: another tenant's dataset is `422 UNKNOWN_DATASET`,
 * exactly like a missing one.
 */
export async function readyDatasetOf(ctx: Context, req: FastifyRequest, id: string): Promise<Dataset> {
  const found = await ctx.datasets.get(id).catch(() => undefined);
  if (found && tenantOf(found) !== callerTenant(req)) {
    throw new UnprocessableError(`unknown dataset '${id}'`, "UNKNOWN_DATASET");
  }
  return ctx.datasets.ready(id);
}
