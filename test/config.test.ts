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
