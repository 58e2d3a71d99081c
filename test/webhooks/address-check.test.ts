import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkWebhookUrl,
  classifyAddress,
  type Resolver,
  WebhookRefusedError,
} from "../../src/webhooks/address-check.js";

describe("classifyAddress", () => {
  const table: [address: string, kind: string | undefined][] = [
    // Public.
    ["93.184.215.14", undefined],
    ["8.8.8.8", undefined],
    ["1.1.1.1", undefined],
    ["100.63.255.255", undefined],
    ["100.128.0.0", undefined],
    ["172.15.255.255", undefined],
    ["172.32.0.0", undefined],
    ["192.167.255.255", undefined],
    ["2606:4700:4700::1111", undefined],
    ["2001:4860:4860::8888", undefined],
    ["::ffff:8.8.8.8", undefined],
    ["64:ff9b::808:808", undefined],
    ["2002:808:808::1", undefined],
    // Loopback.
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    // Private (RFC 1918).
    ["10.0.0.0", "private (RFC 1918)"],
    ["10.255.255.255", "private (RFC 1918)"],
    ["172.16.0.1", "private (RFC 1918)"],
    ["172.31.255.255", "private (RFC 1918)"],
    ["192.168.1.1", "private (RFC 1918)"],
    // Carrier-grade NAT.
    ["100.64.0.0", "carrier-grade NAT (RFC 6598)"],
    ["100.127.255.255", "carrier-grade NAT (RFC 6598)"],
    // Link-local (cloud metadata lives here).
    ["169.254.169.254", "link-local"],
    ["fe80::1", "link-local"],
    ["febf::1", "link-local"],
    // Unique-local IPv6.
    ["fc00::1", "unique-local (RFC 4193)"],
    ["fd12:3456::1", "unique-local (RFC 4193)"],
    // Unspecified.
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    // Multicast, broadcast, reserved.
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "reserved or broadcast"],
    ["240.0.0.1", "reserved or broadcast"],
    ["192.0.2.10", "documentation"],
    ["2001:db8::1", "documentation"],
    ["198.18.0.1", "benchmarking (RFC 2544)"],
    // IPv4-mapped IPv6 forms are judged as their IPv4 address.
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["0:0:0:0:0:ffff:7f00:1", "loopback"],
    ["::ffff:10.1.2.3", "private (RFC 1918)"],
    ["::ffff:a01:203", "private (RFC 1918)"],
    ["::ffff:169.254.169.254", "link-local"],
    ["::ffff:100.64.0.1", "carrier-grade NAT (RFC 6598)"],
    ["::ffff:0.0.0.0", "unspecified"],
    ["::ffff:224.0.0.1", "multicast"],
    // Other IPv6 forms that carry an IPv4 address.
    ["::127.0.0.1", "IPv4-compatible IPv6 (deprecated)"],
    ["64:ff9b::a00:1", "private (RFC 1918), embedded in 64:ff9b::a00:1"],
    ["64:ff9b::127.0.0.1", "loopback, embedded in 64:ff9b::127.0.0.1"],
    ["2002:c0a8:101::1", "private (RFC 1918), embedded in 2002:c0a8:101::1"],
    ["2001:0:4136:e378::1", "Teredo"],
    // Not an address.
    ["localhost", "not an IP address"],
    ["", "not an IP address"],
  ];
  for (const [address, kind] of table) {
    it(`${address || "(empty)"} → ${kind ?? "public"}`, () => {
      assert.equal(classifyAddress(address), kind);
    });
  }
});

describe("checkWebhookUrl", () => {
  const resolver =
    (answers: Record<string, string[]>): Resolver =>
    async (host) => {
      const list = answers[host];
      if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
      return list.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    };

  it("pins the first address of a public host, and keeps the host name in the URL", async () => {
    const target = await checkWebhookUrl("https://hooks.example.org:8443/in?x=1", {
      allowPrivate: false,
      resolve: resolver({ "hooks.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"] }),
    });
    assert.equal(target.address, "93.184.215.14");
    assert.equal(target.family, 4);
    assert.equal(target.url.hostname, "hooks.example.org");
    assert.equal(target.url.port, "8443");
  });

  it("refuses a host when any of its addresses is private, naming it", async () => {
    await assert.rejects(
      checkWebhookUrl("http://mixed.example/", {
        allowPrivate: false,
        resolve: resolver({ "mixed.example": ["93.184.215.14", "10.0.0.5"] }),
      }),
      (err: unknown) =>
        err instanceof WebhookRefusedError &&
        err.statusCode === 422 &&
        err.code === "WEBHOOK_URL_REFUSED" &&
        /10\.0\.0\.5 is private \(RFC 1918\) \(host 'mixed\.example' resolves to it\)/.test(err.message),
    );
  });

  it("refuses literal addresses without asking DNS, IPv6 and IPv4-mapped included", async () => {
    const never: Resolver = async () => assert.fail("a literal address is not looked up");
    for (const url of [
      "http://127.0.0.1:3000/",
      "http://[::1]/",
      "http://[::ffff:10.0.0.1]/",
      "http://0x7f.1/",
    ]) {
      await assert.rejects(
        checkWebhookUrl(url, { allowPrivate: false, resolve: never }),
        WebhookRefusedError,
        url,
      );
    }
    const ok = await checkWebhookUrl("http://[2606:4700:4700::1111]/", {
      allowPrivate: false,
      resolve: never,
    });
    assert.equal(ok.address, "2606:4700:4700::1111");
    assert.equal(ok.family, 6);
  });

  it("refuses a host that does not resolve, marked as unresolved", async () => {
    await assert.rejects(
      checkWebhookUrl("http://nowhere.invalid/", { allowPrivate: false, resolve: resolver({}) }),
      (err: unknown) => err instanceof WebhookRefusedError && err.unresolved && /ENOTFOUND/.test(err.message),
    );
  });

  it("refuses schemes other than http and https", async () => {
    await assert.rejects(checkWebhookUrl("file:///etc/passwd", { allowPrivate: true }), /not http or https/);
    await assert.rejects(checkWebhookUrl("not a url", { allowPrivate: true }), /not a valid URL/);
  });

  it("allows private addresses with allowPrivate, still pinning what it resolved", async () => {
    const target = await checkWebhookUrl("http://localhost:9/", { allowPrivate: true });
    assert.ok(["127.0.0.1", "::1"].includes(target.address), target.address);
    const lit = await checkWebhookUrl("http://10.1.2.3/", { allowPrivate: true });
    assert.equal(lit.address, "10.1.2.3");
  });
});
