import cors from "@fastify/cors";
import helmet from "@fastify/helmet";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import { AppError, ForbiddenError } from "../errors.js";

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];
const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Whether a listen address is loopback-only (`127.x.x.x`, `::1`, `localhost`). */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The Host names a server accepts: ALLOWED_HOSTS, or the loopback names when it listens on loopback only. */
export function allowedHosts(config: Pick<Config, "ALLOWED_HOSTS" | "HOST">): string[] | "*" {
  if (config.ALLOWED_HOSTS) {
    const list = config.ALLOWED_HOSTS.split(",").map((h) => h.trim().toLowerCase());
    return list.includes("*") ? "*" : list;
  }
  return isLoopback(config.HOST) ? LOOPBACK_NAMES : "*";
}

/** Whether a Host header names an allowed host (an entry without a port matches every port). */
export function hostAllowed(header: string | undefined, allowed: string[] | "*"): boolean {
  if (allowed === "*") return true;
  if (!header) return false;
  const host = header.toLowerCase();
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return allowed.includes(host) || allowed.includes(name);
}

/**
 * Security of the HTTP layer: helmet's headers; CORS only for CORS_ORIGINS; a Host header outside
 * {@link allowedHosts} answered `421 MISDIRECTED_REQUEST` (DNS rebinding); a state-changing request from a
 * browser page of another origin (a cross-site form post) refused with `403 CROSS_ORIGIN_REFUSED`.
 */
export async function registerSecurity(app: FastifyInstance, config: Config): Promise<void> {
  const hosts = allowedHosts(config);
  const origins = config.CORS_ORIGINS?.split(",") ?? [];
  await app.register(helmet, { global: true });
  if (origins.length > 0) {
    await app.register(cors, {
      origin: origins,
      methods: ["GET", "HEAD", "POST", "DELETE"],
      allowedHeaders: ["authorization", "content-type", "idempotency-key"],
      exposedHeaders: ["location", "retry-after"],
      maxAge: 600,
    });
  }
  app.addHook("onRequest", async (req) => {
    if (!hostAllowed(req.headers.host, hosts)) {
      throw new AppError(
        421,
        "MISDIRECTED_REQUEST",
        `host '${String(req.headers.host ?? "")}' is not served here (ALLOWED_HOSTS)`,
      );
    }
    if (UNSAFE_METHODS.has(req.method) && crossOrigin(req, origins)) {
      throw new ForbiddenError(
        "cross-origin request refused: call the API from its own origin, or list yours in CORS_ORIGINS",
        "CROSS_ORIGIN_REFUSED",
      );
    }
  });
}

/** Whether a browser sent the request from a page of another origin that CORS_ORIGINS does not list. */
function crossOrigin(req: FastifyRequest, origins: string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return req.headers["sec-fetch-site"] === "cross-site";
  if (origins.includes(origin)) return false;
  try {
    return new URL(origin).host.toLowerCase() !== String(req.headers.host ?? "").toLowerCase();
  } catch {
    return true;
  }
}
