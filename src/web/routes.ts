import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import { authEnabled } from "../auth/plugin.js";
import type { Config } from "../config.js";
import { AppError } from "../errors.js";

/** Where `npm run build:web` writes the dashboard (web/dist beside src/). */
export const WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "web", "dist");

/**
 * The dashboard's Content-Security-Policy: helmet's, plus `blob:` images (the predict preview, and images
 * fetched with the API key), without `upgrade-insecure-requests` (the API is often served over plain HTTP,
 * where it would turn every asset request into a failing HTTPS one).
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'self'",
  "img-src 'self' data: blob:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self'",
].join("; ");

/** Options of {@link webRoutes}. */
export interface WebRoutesOptions {
  /** The built dashboard; default {@link WEB_DIST}. */
  root?: string;
  /** AUTH and HOST: with keys on, the dashboard's pages challenge with Basic (the key as password). */
  config: Pick<Config, "AUTH" | "HOST">;
}

/**
 * Serves the web dashboard (web/dist, built by `npm run build:web`) at `/`: `index.html`, hashed assets
 * cached for a year, the rest revalidated. Without a build, `/` answers `503 DASHBOARD_NOT_BUILT`. With
 * auth on, the pages' 401 challenges with Basic (as `/docs` does), so a browser asks for the key once and
 * sends it along with every request of the page.
 */
export const webRoutes: FastifyPluginAsync<WebRoutesOptions> = async (app: FastifyInstance, opts) => {
  const root = opts.root ?? WEB_DIST;
  const authOn = authEnabled(opts.config);
  app.addHook("onSend", async (_req, reply, payload) => {
    reply.header("content-security-policy", DASHBOARD_CSP);
    if (reply.statusCode === 401 && authOn)
      reply.header("www-authenticate", 'Basic realm="transfer-server", charset="UTF-8"');
    return payload;
  });
  if (!existsSync(path.join(root, "index.html"))) {
    app.get("/", { schema: { hide: true } }, async () => {
      throw new AppError(
        503,
        "DASHBOARD_NOT_BUILT",
        "the web dashboard is not built: run `npm run build:web` (`npm start` does it), then restart the API",
      );
    });
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: "/",
    wildcard: false,
    decorateReply: false,
    cacheControl: false,
    setHeaders(reply, file) {
      const hashed = path.relative(root, file).startsWith(`assets${path.sep}`);
      reply.header("cache-control", hashed ? "public, max-age=31536000, immutable" : "no-cache");
    },
  });
};
