import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { int8WeightBits, ortParallelism } from "../../src/lib/cpu.js";

const flags = (extra: string) => `processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma ${extra}\n`;

describe("int8WeightBits", () => {
  it("uses 8 bits on x86-64 with VNNI and 7 without it", () => {
    assert.equal(int8WeightBits(flags("avx512f avx512bw avx512_vnni"), "x64"), 8);
    assert.equal(int8WeightBits(flags("avx_vnni"), "x64"), 8);
    assert.equal(int8WeightBits(flags("avx512f avx512bw"), "x64"), 7);
    assert.equal(int8WeightBits(flags(""), "x64"), 7);
  });

  it("keeps 7 bits where it cannot tell", () => {
    assert.equal(int8WeightBits("", "x64"), 7);
    assert.equal(int8WeightBits(flags("avx512_vnni"), "arm64"), 7);
    assert.equal(int8WeightBits(flags("avx512_vnnix"), "x64"), 7);
  });
});

describe("ortParallelism", () => {
  it("runs one worker thread per core, at most 4, sharing the cores out as intra-op threads", () => {
    assert.deepEqual(ortParallelism("auto", 0, { cores: 2 }), { workers: 2, threads: 1 });
    assert.deepEqual(ortParallelism("auto", 0, { cores: 3 }), { workers: 3, threads: 1 });
    assert.deepEqual(ortParallelism("auto", 0, { cores: 16 }), { workers: 4, threads: 4 });
    assert.deepEqual(ortParallelism("auto", 0, { cores: 6 }), { workers: 4, threads: 1 });
  });

  it("keeps one session on the calling thread on a single core, for online serving, or when asked", () => {
    assert.deepEqual(ortParallelism("auto", 0, { cores: 8, online: true }), { workers: 0, threads: 0 });
    assert.deepEqual(ortParallelism(2, 0, { cores: 8, online: true }), { workers: 2, threads: 4 });
    assert.deepEqual(ortParallelism("auto", 0, { cores: 1 }), { workers: 0, threads: 0 });
    assert.deepEqual(ortParallelism(0, 0, { cores: 8 }), { workers: 0, threads: 0 });
    assert.deepEqual(ortParallelism(0, 3, { cores: 8 }), { workers: 0, threads: 3 });
  });

  it("honours explicit workers and threads", () => {
    assert.deepEqual(ortParallelism(2, 0, { cores: 8 }), { workers: 2, threads: 4 });
    assert.deepEqual(ortParallelism(3, 2, { cores: 2 }), { workers: 3, threads: 2 });
    assert.deepEqual(ortParallelism(4, 0, { cores: 2 }), { workers: 4, threads: 1 });
  });
});
