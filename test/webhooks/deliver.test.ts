import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { postOnce } from "../../src/webhooks/deliver.js";
import { signatureOf, verifySignature } from "../../src/webhooks/sign.js";
import { type Receiver, signedWith, startReceiver } from "./receiver.js";

describe("signatureOf / verifySignature", () => {
  it("is sha256=<hex HMAC-SHA256 of the exact bytes> and checks in constant time", () => {
    const body = Buffer.from('{"id":"job_1","state":"completed"}');
    const sig = signatureOf(body, "a-secret-of-some-length");
    assert.match(sig, /^sha256=[0-9a-f]{64}$/);
    assert.ok(signedWith(body, "a-secret-of-some-length", sig), "matches an independent HMAC");
    assert.ok(verifySignature(body, "a-secret-of-some-length", sig));
    assert.ok(!verifySignature(Buffer.from(`${body} `), "a-secret-of-some-length", sig), "one byte more");
    assert.ok(!verifySignature(body, "another-secret-of-length", sig));
    assert.ok(!verifySignature(body, "a-secret-of-some-length", undefined));
    assert.ok(!verifySignature(body, "a-secret-of-some-length", "sha256=00"));
  });
});

describe("postOnce", () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
  });
  after(() => receiver.close());
  const port = () => new URL(receiver.base).port;

  it("connects to the checked address, whatever the host name resolves to now (pinned)", async () => {
    // `rebind.invalid` resolves nowhere: only the pinned lookup can take the request to the receiver.
    const url = new URL(`http://rebind.invalid:${port()}/pinned`);
    const body = Buffer.from('{"a":1}');
    const out = await postOnce({ url, address: "127.0.0.1", family: 4 }, body, { "x-test": "1" }, 5000);
    assert.equal(out.status, 200, JSON.stringify(out));
    assert.equal(out.error, undefined);
    assert.ok(out.ms >= 0);
    const [got] = receiver.requests("/pinned");
    assert.equal(got.headers.host, `rebind.invalid:${port()}`, "the Host header keeps the name");
    assert.equal(got.headers["x-test"], "1");
    assert.equal(got.headers["content-length"], String(body.length));
    assert.deepEqual(got.body, body);
  });

  it("reports a non-2xx answer as its status", async () => {
    receiver.script("/busy", [503]);
    const url = new URL(`${receiver.base}/busy`);
    const out = await postOnce({ url, address: "127.0.0.1", family: 4 }, Buffer.from("{}"), {}, 5000);
    assert.equal(out.status, 503);
  });

  it("reports a refused connection as an error, without throwing", async () => {
    const server = http.createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const closedPort = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    const url = new URL(`http://127.0.0.1:${closedPort}/`);
    const out = await postOnce({ url, address: "127.0.0.1", family: 4 }, Buffer.from("{}"), {}, 5000);
    assert.equal(out.status, undefined);
    assert.match(out.error ?? "", /ECONNREFUSED/);
  });

  it("gives up on a receiver that never answers after the timeout", { timeout: 20_000 }, async () => {
    const sockets = new Set<import("node:net").Socket>();
    const silent = http.createServer(() => {
      // Never answers.
    });
    silent.on("connection", (s) => sockets.add(s));
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    try {
      const url = new URL(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`);
      const out = await postOnce({ url, address: "127.0.0.1", family: 4 }, Buffer.from("{}"), {}, 300);
      assert.equal(out.status, undefined);
      assert.match(out.error ?? "", /timed out after 300 ms/);
      assert.ok(out.ms >= 290, String(out.ms));
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
