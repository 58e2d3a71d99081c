import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import type { Context } from "../context.js";
import { ForbiddenError, UnauthorizedError } from "../errors.js";
import { isLoopback } from "../http/security.js";
import { sameHash, sha256 } from "./keys.js";
import { DEFAULT_TENANT, type Principal, type Scope } from "./tenant.js";

/** What a route needs: nothing, reading (`write` or `admin` keys), or a scope. */
type Need = "public" | "read" | Scope;

const OPEN: Principal = { tenant: DEFAULT_TENANT, scopes: ["admin"], keyId: "none" };
const PUBLIC_ROUTES = new Set(["/healthz", "/readyz", "/metrics"]);
const GRANTS: Record<Scope, readonly Need[]> = {
  admin: ["read", "write", "predict", "admin"],
  write: ["read", "write", "predict"],
  predict: ["predict"],
};

/** Whether requests need API keys: AUTH `on`, or `auto` with HOST not a loopback address. */
export function authEnabled(config: Pick<Config, "AUTH" | "HOST">): boolean {
  return config.AUTH === "on" || (config.AUTH === "auto" && !isLoopback(config.HOST));
}

/** What a request needs, from its route and method. */
function needOf(req: FastifyRequest): Need {
  const route = req.routeOptions.url;
  if (route === undefined || req.method === "OPTIONS" || PUBLIC_ROUTES.has(route)) return "public";
  if (route.startsWith("/v1/keys")) return "admin";
  if (route === "/v1/models/:id/predict") return "predict";
  return req.method === "GET" || req.method === "HEAD" ? "read" : "write";
}

/** The key a request presents: `Authorization: Bearer <key>`, or Basic with the key as password (browsers). */
function presentedKey(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value = ""] = header.split(" ", 2);
  if (/^bearer$/i.test(scheme)) return value.trim() || undefined;
  if (!/^basic$/i.test(scheme)) return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return (colon < 0 ? decoded : decoded.slice(colon + 1) || decoded.slice(0, colon)) || undefined;
}

/**
 * API keys: with auth on, every route but health, readiness and metrics needs a key of a scope that grants
 * it (`401 UNAUTHORIZED` without a valid key, `403 INSUFFICIENT_SCOPE` with too small a one); the request's
 * {@link Principal} (tenant, scopes) is set for the routes. Pages a browser opens (`/docs`) challenge with
 * Basic, so the browser asks for the key once (as the password). With auth off every request is the
 * default tenant's admin.
 */
export async function registerAuth(app: FastifyInstance, ctx: Context): Promise<void> {
  const on = authEnabled(ctx.config);
  const envHash = ctx.config.ADMIN_API_KEY ? sha256(ctx.config.ADMIN_API_KEY) : undefined;
  app.addHook("onRequest", async (req) => {
    const need = needOf(req);
    if (!on) {
      req.principal = OPEN;
      return;
    }
    if (need === "public") return;
    const browser = req.url.startsWith("/docs") || req.url === "/openapi.json";
    const challenge = browser
      ? 'Basic realm="transfer-server", charset="UTF-8"'
      : 'Bearer realm="transfer-server"';
    const key = presentedKey(req.headers.authorization);
    if (!key) throw new UnauthorizedError("an API key is required: Authorization: Bearer <key>", challenge);
    const principal = await resolve(key);
    if (!principal) throw new UnauthorizedError("unknown or revoked API key", challenge);
    if (!principal.scopes.some((s) => GRANTS[s].includes(need))) {
      throw new ForbiddenError(
        `this key's scopes (${principal.scopes.join(", ")}) do not allow this request (needs ${need === "read" ? "write" : need})`,
        "INSUFFICIENT_SCOPE",
      );
    }
    req.principal = principal;
  });

  async function resolve(key: string): Promise<Principal | undefined> {
    if (envHash && sameHash(envHash, sha256(key)))
      return { tenant: DEFAULT_TENANT, scopes: ["admin"], keyId: "env" };
    const record = await ctx.keys.verify(key);
    return record && { tenant: record.tenant, scopes: record.scopes, keyId: record.id };
  }
}
