/**
 * How the API serves the dashboard: without a build, `/` says to run `npm run build:web` (503 in the API's
 * error shape); with auth on, the pages challenge with Basic so a browser asks for the key once (as the
 * password) and sends it with every request of the page; the pages carry the dashboard's CSP.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";
import Fastify from "fastify";
import request from "supertest";
import { registerErrorHandler } from "../../src/http/error-handler.js";
import { DASHBOARD_CSP, webRoutes } from "../../src/web/routes.js";
import { type Stack, startStack } from "../helpers/stack.js";
import { ensureWebBuild } from "./web-build.js";

const ADMIN = "web-admin-key-0123456789abcdef";
let stack: Stack;

before(async () => {
  await ensureWebBuild();
  stack = await startStack({ AUTH: "on", ADMIN_API_KEY: ADMIN });
});
after(async () => {
  await stack?.close();
});

it("answers / with 503 DASHBOARD_NOT_BUILT when web/dist is missing", async () => {
  const empty = await mkdtemp(path.join(os.tmpdir(), "tls-web-empty-"));
  const app = Fastify();
  try {
    registerErrorHandler(app);
    await app.register(webRoutes, { root: empty, config: { AUTH: "off", HOST: "127.0.0.1" } });
    const res = await app.inject({ method: "GET", url: "/" });
    assert.equal(res.statusCode, 503);
    const body = res.json();
    assert.equal(body.error.code, "DASHBOARD_NOT_BUILT");
    assert.match(body.error.message, /npm run build:web/);
  } finally {
    await app.close();
    await rm(empty, { recursive: true, force: true });
  }
});

it("with auth on, challenges the pages with Basic and serves them with the key as the password", async () => {
  const api = request(stack.app.server);
  const refused = await api.get("/");
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, "UNAUTHORIZED");
  assert.match(String(refused.headers["www-authenticate"]), /^Basic realm="transfer-server"/);
  // The API's own routes keep their Bearer challenge.
  assert.match(String((await api.get("/v1/datasets")).headers["www-authenticate"]), /^Bearer/);

  const basic = `Basic ${Buffer.from(`:${ADMIN}`).toString("base64")}`;
  const page = await api.get("/").set("authorization", basic);
  assert.equal(page.status, 200);
  assert.match(String(page.headers["content-type"]), /text\/html/);
  assert.equal(page.headers["content-security-policy"], DASHBOARD_CSP);
  assert.equal(page.headers["cache-control"], "no-cache");
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(page.text)?.[1];
  assert.ok(script, page.text);
  const js = await api.get(script).set("authorization", basic);
  assert.equal(js.status, 200);
  assert.match(String(js.headers["content-type"]), /javascript/);
  // The page's API calls carry the same credentials (the browser sends them), or the key as Bearer.
  assert.equal((await api.get("/v1/datasets").set("authorization", basic)).status, 200);
  assert.equal((await api.get("/v1/datasets").set("authorization", `Bearer ${ADMIN}`)).status, 200);
});
