import type { FastifyRequest } from "fastify";
import { NotFoundError } from "../errors.js";

/** The tenant of everything made without keys (AUTH off), and of records from before tenants existed. */
export const DEFAULT_TENANT = "default";

/** What a tenant name may look like (it becomes part of folder names). */
export const TENANT_PATTERN = "^[a-z0-9][a-z0-9_-]{0,62}$";

/** Who is calling: the key's tenant and scopes (AUTH off: the default tenant, every scope). */
export interface Principal {
  tenant: string;
  scopes: readonly Scope[];
  /** The key's id (`env` for ADMIN_API_KEY, `none` with AUTH off): rate limits count per key. */
  keyId: string;
}

/** `admin`: keys and everything; `write`: datasets, jobs, models (and predict); `predict`: predict only. */
export type Scope = "admin" | "write" | "predict";

/** The tenant a stored record belongs to. */
export function tenantOf(record: { tenant?: string }): string {
  return record.tenant ?? DEFAULT_TENANT;
}

/** The caller's tenant (the default one before authentication ran, e.g. in tests without keys). */
export function callerTenant(req: FastifyRequest): string {
  return req.principal?.tenant ?? DEFAULT_TENANT;
}

/**
 * Returns `record` when the caller's tenant owns it; otherwise a 404 exactly like an unknown id, so that
 * another tenant's ids reveal nothing.
 */
export function owned<T extends { tenant?: string }>(
  req: FastifyRequest,
  record: T,
  what: string,
  id: string,
): T {
  if (tenantOf(record) !== callerTenant(req)) throw new NotFoundError(what, id);
  return record;
}

/** Records of the caller's tenant only. */
export function ownedOnly<T extends { tenant?: string }>(req: FastifyRequest, records: T[]): T[] {
  const tenant = callerTenant(req);
  return records.filter((r) => tenantOf(r) === tenant);
}

/** The feature-cache folder of a tenant under the cache root (the default tenant keeps the root itself). */
export function tenantCacheDir(root: string, tenant: string | undefined): string {
  return !tenant || tenant === DEFAULT_TENANT ? root : `${root}/t-${tenant}`;
}

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the auth hook on every request that passed it. */
    principal?: Principal;
  }
}
