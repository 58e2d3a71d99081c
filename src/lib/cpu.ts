import { readFileSync } from "node:fs";

function cpuinfo(): string {
  if (process.platform !== "linux") return "";
  try {
    return readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return "";
  }
}

/**
 * Bits for int8 convolution weights that ONNX Runtime multiplies exactly on this CPU: 8 on x86-64 with VNNI
 * (`avx512_vnni` or `avx_vnni`: VPDPBUSD sums u8 x s8 products in 32 bits), 7 everywhere else (AVX2 and
 * AVX-512 without VNNI add pairs of products in saturating 16 bits, VPMADDUBSW; other CPUs unmeasured).
 *
 * @param info `/proc/cpuinfo` text; read from the machine when absent.
 */
export function int8WeightBits(info: string = cpuinfo(), arch: string = process.arch): 7 | 8 {
  return arch === "x64" && /\b(avx512_vnni|avx_vnni)\b/.test(info) ? 8 : 7;
}
