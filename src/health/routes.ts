import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { Context } from "../context.js";
import { ServiceUnavailableError } from "../errors.js";
import { errorResponses } from "../http/schemas.js";

/** GET /healthz (the process is up) and GET /readyz (Redis reachable and writable). */
export const healthRoutes: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  app.get(
    "/healthz",
    {
      schema: {
        tags: ["operations"],
        operationId: "getHealth",
        summary: "Liveness: the process is up",
        response: { 200: Type.Object({ status: Type.Literal("ok") }) },
      },
    },
    async () => ({ status: "ok" as const }),
  );
  app.get(
    "/readyz",
    {
      schema: {
        tags: ["operations"],
        operationId: "getReadiness",
        summary: "Readiness: Redis reachable and writable",
        response: {
          200: Type.Object({ status: Type.Literal("ready"), redisMs: Type.Number() }),
          ...errorResponses(503),
        },
      },
    },
    async () => {
      const started = performance.now();
      const key = `${ctx.config.QUEUE_PREFIX}:tls:readyz:${process.pid}`;
      try {
        await withTimeout(ctx.redis.set(key, String(Date.now()), "PX", 10_000), 1000);
      } catch (err) {
        throw new ServiceUnavailableError(
          `redis is not reachable or not writable: ${(err as Error).message}`,
          "REDIS_UNAVAILABLE",
        );
      }
      return { status: "ready" as const, redisMs: Math.round((performance.now() - started) * 100) / 100 };
    },
  );
};

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
