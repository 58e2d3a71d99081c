import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { int8WeightBits } from "../../src/lib/cpu.js";

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
