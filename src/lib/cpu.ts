import { readFileSync } from "node:fs";
import os from "node:os";

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

/** Options of {@link ortParallelism}. */
export interface ParallelismOptions {
  /** Cores to plan for (default: what the process may use). */
  cores?: number;
  /**
   * Online serving of single images: `auto` keeps one session on the calling thread there, so that each
   * image runs on every core (a worker thread runs an image on its own share of them).
   */
  online?: boolean;
}

/**
 * ONNX Runtime CPU parallelism: how many worker threads (each with its own session) and how many intra-op
 * threads per session. `auto` workers are one per core, at most 4, and none on a single core or for online
 * serving; intra-op threads left at 0 share the cores out among the workers (without workers, 0 lets ONNX
 * Runtime pick).
 */
export function ortParallelism(
  workers: number | "auto",
  threads: number,
  { cores = os.availableParallelism(), online = false }: ParallelismOptions = {},
): { workers: number; threads: number } {
  const w = workers === "auto" ? (cores > 1 && !online ? Math.min(cores, 4) : 0) : workers;
  if (w === 0) return { workers: 0, threads };
  return { workers: w, threads: threads > 0 ? threads : Math.max(1, Math.floor(cores / w)) };
}
