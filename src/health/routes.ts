import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type, { type Static } from "typebox";
import type { Context } from "../context.js";
import { ServiceUnavailableError } from "../errors.js";
import { errorResponses } from "../http/schemas.js";
import { diskSpace } from "../lib/disk.js";

const DiskStatus = Type.Object(
  {
    freeBytes: Type.Integer({ description: "Bytes free on DATA_DIR's disk" }),
    totalBytes: Type.Integer(),
    minFreeBytes: Type.Integer({
      description: "MIN_FREE_DISK_MB: uploads that would leave less are refused",
    }),
    low: Type.Boolean({ description: "Free space is below minFreeBytes: new uploads are refused (507)" }),
  },
  { title: "DiskStatus" },
);

/**
 * GET /healthz (the process is up) and GET /readyz (Redis reachable and writable, DATA_DIR writable; the
 * disk's free space, and whether it is below the reserve).
 */
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
        summary: "Readiness: Redis reachable and writable, DATA_DIR writable; free disk space",
        response: {
          200: Type.Object({ status: Type.Literal("ready"), redisMs: Type.Number(), disk: DiskStatus }),
          ...errorResponses(503),
        },
      },
    },
    async (req) => {
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
      const redisMs = Math.round((performance.now() - started) * 100) / 100;
      const disk = await checkDisk(ctx.paths.root, ctx.config.MIN_FREE_DISK_MB * 1024 ** 2);
      if (disk.low) req.log.warn({ disk }, "DATA_DIR's disk is low on space: uploads are refused");
      return { status: "ready" as const, redisMs, disk };
    },
  );
};

/** DATA_DIR's free space, after a probe write (503 DISK_UNAVAILABLE when it cannot be written). */
async function checkDisk(root: string, minFreeBytes: number): Promise<Static<typeof DiskStatus>> {
  const probe = path.join(root, `.readyz-${process.pid}`);
  try {
    await mkdir(root, { recursive: true });
    await writeFile(probe, String(Date.now()));
    await rm(probe, { force: true });
  } catch (err) {
    await rm(probe, { force: true }).catch(() => undefined);
    throw new ServiceUnavailableError(
      `DATA_DIR is not writable: ${(err as Error).message}`,
      "DISK_UNAVAILABLE",
    );
  }
  const { freeBytes, totalBytes } = await diskSpace(root);
  return { freeBytes, totalBytes, minFreeBytes, low: freeBytes < minFreeBytes };
}

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
