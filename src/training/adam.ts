const [I32, F32, V128] = [0x7f, 0x7d, 0x7b];
const [GET, SET, ADD_I32, GE_U, CONST_I32] = [0x20, 0x21, 0x6a, 0x4f, 0x41];
const [BLOCK, LOOP, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x0c, 0x0d, 0x0b, 0x40];
const simd = (op: number) => (op < 128 ? [0xfd, op] : [0xfd, (op & 0x7f) | 0x80, op >> 7]);
const [LOAD, STORE] = [
  [...simd(0x00), 4, 0],
  [...simd(0x0b), 4, 0],
];
const [SPLAT, SQRT, ADD, SUB, MUL, DIV] = [0x13, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7].map(simd);

/** Parameters w g m v (byte offsets), bytes; f32 b1 a1 b2 a2 scale inv2 eps; locals i, 7 splats, g m v. */
const P = { w: 0, g: 1, m: 2, v: 3, bytes: 4, i: 12, splat: 13, gi: 20, mi: 21, vi: 22 };

const at = (base: number) => [GET, base, GET, P.i, ADD_I32];
const splats = [0, 1, 2, 3, 4, 5, 6].flatMap((k) => [GET, 5 + k, ...SPLAT, SET, P.splat + k]);
const [b1, a1, b2, a2, scale, inv2, eps] = [0, 1, 2, 3, 4, 5, 6].map((k) => [GET, P.splat + k]);
// for (i = 0; i < bytes; i += 16) { m = b1 m + a1 g; v = b2 v + a2 g g; w -= m scale / (sqrt(v inv2) + eps) }
const body = [
  ...splats,
  ...[BLOCK, VOID, LOOP, VOID, GET, P.i, GET, P.bytes, GE_U, BR_IF, 1],
  ...[...at(P.g), ...LOAD, SET, P.gi],
  ...[...at(P.m), ...LOAD, ...b1, ...MUL, GET, P.gi, ...a1, ...MUL, ...ADD, SET, P.mi],
  ...[...at(P.m), GET, P.mi, ...STORE],
  ...[...at(P.v), ...LOAD, ...b2, ...MUL, GET, P.gi, GET, P.gi, ...MUL, ...a2, ...MUL, ...ADD, SET, P.vi],
  ...[...at(P.v), GET, P.vi, ...STORE],
  ...[...at(P.w), ...at(P.w), ...LOAD, GET, P.mi, ...scale, ...MUL],
  ...[GET, P.vi, ...inv2, ...MUL, ...SQRT, ...eps, ...ADD, ...DIV, ...SUB, ...STORE],
  ...[GET, P.i, CONST_I32, 16, ADD_I32, SET, P.i, BR, 0, END, END, END],
];
const locals = [2, 1, I32, 10, V128];
const section = (id: number, bytes: number[]) => [id, ...leb(bytes.length), ...bytes];
const name = (s: string) => [s.length, ...Buffer.from(s)];
const code = [...locals, ...body];
/** A wasm module importing `env.memory` and exporting `adam`: one SIMD Adam step over f32x4 lanes. */
const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, [1, 0x60, 12, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, 0]),
  ...section(2, [1, ...name("env"), ...name("memory"), 0x02, 0x00, 0x00]),
  ...section(3, [1, 0]),
  ...section(7, [1, ...name("adam"), 0x00, 0]),
  ...section(10, [1, ...leb(code.length), ...code]),
]);

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n ? byte | 0x80 : byte);
  } while (n);
  return out;
}

/** The part of the WebAssembly global used here (tsconfig's lib has no WebAssembly types). */
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type Kernel = (w: number, g: number, m: number, v: number, bytes: number, ...f32: number[]) => void;

/**
 * Adam with TF.js's `tf.train.adam(lr)` semantics (beta1 0.9, beta2 0.999, epsilon 1e-7 added to the
 * bias-corrected root of the second moment), in float32 with a WebAssembly SIMD kernel. Parameters,
 * gradients and moments live in the kernel's memory as the Float32Array views {@link params},
 * {@link grads}, {@link m} and {@link v}; write into them, never replace them. The bias corrections come from
 * the iteration count alone, so a restored optimizer continues bit-identically.
 */
export class Adam {
  readonly beta1 = 0.9;
  readonly beta2 = 0.999;
  readonly epsilon = 1e-7;
  /** Steps taken so far. */
  iterations = 0;
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  private readonly kernel: Kernel;
  private readonly bytes: number[];

  constructor(
    public learningRate: number,
    sizes: number[],
  ) {
    this.bytes = sizes.map((n) => Math.ceil(n / 4) * 16);
    const total = 4 * this.bytes.reduce((a, b) => a + b, 0);
    const memory = new wasm.Memory({ initial: Math.max(1, Math.ceil(total / 65536)) });
    const instance = new wasm.Instance(new wasm.Module(MODULE), { env: { memory } });
    this.kernel = instance.exports.adam as Kernel;
    let offset = 0;
    const views = () =>
      sizes.map((n, i) => {
        const view = new Float32Array(memory.buffer, offset, n);
        offset += this.bytes[i];
        return view;
      });
    [this.params, this.grads, this.m, this.v] = [views(), views(), views(), views()];
  }

  /** Updates {@link params} in place from {@link grads}, then counts the step. */
  step(): void {
    const { beta1: b1, beta2: b2, epsilon } = this;
    const t = this.iterations + 1;
    const scale = this.learningRate / (1 - b1 ** t);
    const inv2 = 1 / (1 - b2 ** t);
    for (const [i, bytes] of this.bytes.entries()) {
      const at = [this.params, this.grads, this.m, this.v].map((views) => views[i].byteOffset);
      this.kernel(at[0], at[1], at[2], at[3], bytes, b1, 1 - b1, b2, 1 - b2, scale, inv2, epsilon);
    }
    this.iterations = t;
  }
}
