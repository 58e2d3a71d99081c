import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance } from "fastify";
import type { Context } from "../context.js";
import { AppError } from "../errors.js";
import { authEnabled } from "./plugin.js";

/** RATE_LIMIT_PER_MINUTE when set; else 600 with API keys and no limit without. */
export function rateLimitPerMinute(config: Context["config"]): number {
  return config.RATE_LIMIT_PER_MINUTE ?? (authEnabled(config) ? 600 : 0);
}

/**
 * Requests per key and minute (per client address without keys), counted in Redis so that every API
 * replica shares the count; past it `429 RATE_LIMITED` with `Retry-After`. Health, readiness and metrics
 * are not counted; with Redis away requests are not refused for it (they answer 503 where they need Redis).
 */
export async function registerRateLimit(app: FastifyInstance, ctx: Context): Promise<void> {
  const max = rateLimitPerMinute(ctx.config);
  if (max === 0) return;
  await app.register(rateLimit, {
    global: true,
    hook: "preHandler",
    max,
    timeWindow: 60_000,
    redis: ctx.redis,
    nameSpace: `${ctx.config.QUEUE_PREFIX}:tls:ratelimit:`,
    skipOnError: true,
    keyGenerator: (req) => (req.principal && req.principal.keyId !== "none" ? req.principal.keyId : req.ip),
    allowList: (req) => ["/healthz", "/readyz", "/metrics"].includes(req.routeOptions.url ?? ""),
    errorResponseBuilder: (_req, c) =>
      new AppError(
        429,
        "RATE_LIMITED",
        `more than ${c.max} requests a minute with this key; retry after ${c.after}`,
      ),
  });
}
