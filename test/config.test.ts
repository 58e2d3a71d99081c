import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../src/config.js";

describe("loadConfig", () => {
  it("fills in working defaults", () => {
    const c = loadConfig({});
    assert.equal(c.PORT, 3000);
    assert.equal(c.DEFAULT_BACKBONE, "mobilenet_v2");
    assert.equal(c.ORT_WORKERS, "auto");
    assert.equal(c.dataDir, path.resolve("data"));
    assert.equal(c.redisUrl, "redis://127.0.0.1:6379");
    assert.equal(c.redisUrlDefaulted, true);
    assert.equal(c.int8WeightBits, undefined);
  });

  it("converts numbers and keeps the word auto", () => {
    const c = loadConfig({ PORT: "8080", ORT_WORKERS: "3", ORT_SPINNING: "true", INT8_WEIGHT_BITS: "7" });
    assert.equal(c.PORT, 8080);
    assert.equal(c.ORT_WORKERS, 3);
    assert.equal(c.ORT_SPINNING, true);
    assert.equal(c.int8WeightBits, 7);
    assert.equal(loadConfig({ ORT_WORKERS: "auto" }).ORT_WORKERS, "auto");
  });

  it("lists every bad variable at once, by name", () => {
    let error: unknown;
    try {
      loadConfig({ PORT: "http", ORT_WORKERS: "many", REDIS_URL: "localhost:6379", LOG_LEVEL: "loud" });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError);
    const names = error.problems.map((p) => p.split("=")[0]).sort();
    assert.deepEqual(names, ["LOG_LEVEL", "ORT_WORKERS", "PORT", "REDIS_URL"]);
    assert.match(error.message, /ORT_WORKERS="many"/);
  });

  it("rejects out-of-range numbers", () => {
    assert.throws(() => loadConfig({ ORT_WORKERS: "-1" }), /ORT_WORKERS/);
    assert.throws(() => loadConfig({ ORT_WORKERS: "65" }), /ORT_WORKERS/);
    assert.throws(() => loadConfig({ PORT: "70000" }), /PORT/);
  });
});

describe("webhook settings", () => {
  it("default to refusing private addresses, 5 attempts, 2 s backoff and 10 s per attempt", () => {
    const c = loadConfig({});
    assert.equal(c.WEBHOOK_ALLOW_PRIVATE, false);
    assert.equal(c.WEBHOOK_ATTEMPTS, 5);
    assert.equal(c.WEBHOOK_BACKOFF_MS, 2000);
    assert.equal(c.WEBHOOK_TIMEOUT_MS, 10_000);
    const set = loadConfig({
      WEBHOOK_ALLOW_PRIVATE: "true",
      WEBHOOK_ATTEMPTS: "3",
      WEBHOOK_BACKOFF_MS: "50",
      WEBHOOK_TIMEOUT_MS: "500",
    });
    assert.deepEqual(
      [set.WEBHOOK_ALLOW_PRIVATE, set.WEBHOOK_ATTEMPTS, set.WEBHOOK_BACKOFF_MS, set.WEBHOOK_TIMEOUT_MS],
      [true, 3, 50, 500],
    );
  });

  it("names each bad webhook variable", () => {
    let error: unknown;
    try {
      loadConfig({ WEBHOOK_ALLOW_PRIVATE: "maybe", WEBHOOK_ATTEMPTS: "0", WEBHOOK_TIMEOUT_MS: "soon" });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError);
    const names = error.problems.map((p) => p.split("=")[0]).sort();
    assert.deepEqual(names, ["WEBHOOK_ALLOW_PRIVATE", "WEBHOOK_ATTEMPTS", "WEBHOOK_TIMEOUT_MS"]);
  });
});
