/**
 * The HTTP layer's defences, each found by a hand-run attack: a foreign Host header (DNS rebinding), a
 * cross-origin form post (CSRF), ids that do not match their pattern (they must not reach Redis or the
 * disk), and Fastify's and Node's own errors, which must come back in the API's error shape.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { type Stack, startStack } from "../helpers/stack.js";

let stack: Stack;

before(async () => {
  stack = await startStack({}, { ingest: false });
});
after(() => stack.close());

/** Asserts the API's error shape, with `status` and `code`. */
function assertShape(res: { statusCode: number; body: string }, status: number, code: string): void {
  assert.equal(res.statusCode, status, res.body);
  const body = JSON.parse(res.body) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 0);
}

describe("Host header (DNS rebinding)", () => {
  it("a server on loopback answers only loopback names; others are 421", async () => {
    for (const host of ["localhost:3000", "127.0.0.1:3000", "[::1]:3000", "localhost"]) {
      const res = await stack.app.inject({ method: "GET", url: "/healthz", headers: { host } });
      assert.equal(res.statusCode, 200, host);
    }
    for (const host of ["evil.example:3000", "127.0.0.1.evil.example", "localhost.evil.example"]) {
      const res = await stack.app.inject({ method: "GET", url: "/v1/datasets", headers: { host } });
      assertShape(res, 421, "MISDIRECTED_REQUEST");
    }
  });

  it("ALLOWED_HOSTS names the hosts of a server behind a proxy", async () => {
    const own = await startStack({ ALLOWED_HOSTS: "api.example.com,internal:8080" }, { ingest: false });
    try {
      const ok = ["api.example.com", "api.example.com:443", "internal:8080"];
      for (const host of ok) {
        assert.equal((await own.app.inject({ url: "/healthz", headers: { host } })).statusCode, 200, host);
      }
      for (const host of ["localhost:3000", "internal:9090"]) {
        assertShape(await own.app.inject({ url: "/healthz", headers: { host } }), 421, "MISDIRECTED_REQUEST");
      }
    } finally {
      await own.close();
    }
  });
});

describe("cross-origin requests (CSRF)", () => {
  const form = (headers: Record<string, string>) =>
    stack.app.inject({
      method: "POST",
      url: "/v1/datasets",
      headers: { "content-type": "multipart/form-data; boundary=x", host: "localhost:3000", ...headers },
      payload: '--x\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\nPK\r\n--x--\r\n',
    });

  it("a form posted from another origin is 403 and creates nothing", async () => {
    assertShape(await form({ origin: "http://evil.example" }), 403, "CROSS_ORIGIN_REFUSED");
    assertShape(await form({ origin: "null" }), 403, "CROSS_ORIGIN_REFUSED");
    assertShape(await form({ "sec-fetch-site": "cross-site" }), 403, "CROSS_ORIGIN_REFUSED");
    const del = await stack.app.inject({
      method: "DELETE",
      url: "/v1/datasets/ds_0123",
      headers: { host: "localhost:3000", origin: "https://evil.example" },
    });
    assertShape(del, 403, "CROSS_ORIGIN_REFUSED");
    const list = await stack.app.inject({ url: "/v1/datasets" });
    assert.deepEqual(JSON.parse(list.body).items, []);
  });

  it("the same origin, or no browser at all, is let through to the route", async () => {
    const same = await form({ origin: "http://localhost:3000" });
    assert.notEqual(same.statusCode, 403, same.body);
    const cli = await form({});
    assert.notEqual(cli.statusCode, 403, cli.body);
    const reads = await stack.app.inject({ url: "/v1/datasets", headers: { origin: "http://evil.example" } });
    assert.equal(reads.statusCode, 200);
    assert.equal(reads.headers["access-control-allow-origin"], undefined, "CORS is closed by default");
  });

  it("CORS_ORIGINS opens the API to the listed origins only", async () => {
    const own = await startStack({ CORS_ORIGINS: "https://app.example" }, { ingest: false });
    try {
      const preflight = await own.app.inject({
        method: "OPTIONS",
        url: "/v1/jobs",
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization,content-type",
        },
      });
      assert.equal(preflight.statusCode, 204, preflight.body);
      assert.equal(preflight.headers["access-control-allow-origin"], "https://app.example");
      const listed = await own.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: { origin: "https://app.example", "content-type": "application/json" },
        payload: "{}",
      });
      assertShape(listed, 400, "VALIDATION_ERROR");
      const other = await own.app.inject({
        method: "POST",
        url: "/v1/jobs",
        headers: { origin: "https://other.example", "content-type": "application/json" },
        payload: "{}",
      });
      assertShape(other, 403, "CROSS_ORIGIN_REFUSED");
    } finally {
      await own.close();
    }
  });

  it("helmet's headers are on every answer", async () => {
    const res = await stack.app.inject({ url: "/healthz" });
    assert.equal(res.headers["x-content-type-options"], "nosniff");
    assert.equal(res.headers["x-frame-options"], "SAMEORIGIN");
    assert.match(String(res.headers["content-security-policy"]), /default-src 'self'/);
    assert.equal(res.headers["x-powered-by"], undefined);
  });
});

describe("ids and framework errors", () => {
  it("an id that does not match its pattern is 404 and touches no Redis key", async () => {
    const prefix = stack.env.QUEUE_PREFIX;
    const keysBefore = (await stack.ctx.redis.keys(`${prefix}:*`)).sort();
    for (const [method, url] of [
      ["GET", "/v1/jobs/job_x:cancel"],
      ["DELETE", "/v1/jobs/job_x:cancel"],
      ["GET", "/v1/jobs/job_x:cancel/events"],
      ["GET", "/v1/datasets/..%2F..%2Fetc"],
      ["DELETE", "/v1/datasets/ds_a%2Fb"],
      ["GET", "/v1/models/mdl_*"],
      ["GET", "/v1/models/job_0123"],
    ] as const) {
      assertShape(await stack.app.inject({ method, url }), 404, "NOT_FOUND");
    }
    assert.deepEqual((await stack.ctx.redis.keys(`${prefix}:*`)).sort(), keysBefore);
  });

  it("a bad URL encoding is 400 and an over-long path segment 414, in the error shape", async () => {
    assertShape(await stack.app.inject({ url: "/v1/datasets/%E0%A4%A" }), 400, "BAD_URL");
    assertShape(await stack.app.inject({ url: `/v1/jobs/${"a".repeat(300)}` }), 414, "URI_TOO_LONG");
  });

  it("a request that is not HTTP gets a 400 in the error shape", async () => {
    await stack.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = stack.app.server.address() as net.AddressInfo;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.write("GARBAGE /\u0000 HTTP/9\r\n\r\n"));
      let data = "";
      socket.on("data", (d) => {
        data += d;
      });
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
    const body = JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4));
    assert.equal(body.error.code, "BAD_REQUEST");
  });
});
