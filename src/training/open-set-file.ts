import { type ClassGaussians, checkModel } from "./open-set.js";

const FORMAT = "class-gaussians/1";

interface Header {
  format: string;
  kind: "full" | "diag";
  dim: number;
  classes: number;
}

/**
 * Serializes a model: one JSON header line (`{"format":"class-gaussians/1","kind","dim","classes"}`
 * and `\n`), then the means and the precision as little-endian float32.
 */
export function encodeClassGaussians(m: ClassGaussians): Uint8Array {
  checkModel(m);
  const header: Header = { format: FORMAT, kind: m.kind, dim: m.dim, classes: m.classes };
  const head = new TextEncoder().encode(JSON.stringify(header) + "\n");
  const out = new Uint8Array(head.length + 4 * (m.means.length + m.precision.length));
  out.set(head);
  const view = new DataView(out.buffer);
  let offset = head.length;
  for (const arr of [m.means, m.precision]) {
    for (let i = 0; i < arr.length; i++, offset += 4) view.setFloat32(offset, arr[i], true);
  }
  return out;
}

function corrupt(why: string): never {
  throw new Error(`corrupt class-gaussians data: ${why}`);
}

/** Parses {@link encodeClassGaussians} output; throws an Error naming the problem on corrupt input. */
export function decodeClassGaussians(bytes: Uint8Array): ClassGaussians {
  const newline = bytes.indexOf(10);
  if (newline < 0 || newline > 4096) corrupt("no header line");
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, newline)));
  } catch {
    return corrupt("the header is not JSON");
  }
  if (typeof header !== "object" || header === null) corrupt("the header is not an object");
  if (header.format !== FORMAT) corrupt(`unknown format ${JSON.stringify(header.format)}`);
  const { kind, dim, classes } = header;
  if (kind !== "full" && kind !== "diag") corrupt(`unknown kind ${JSON.stringify(kind)}`);
  if (!Number.isSafeInteger(dim) || dim < 1) corrupt(`bad dim ${JSON.stringify(dim)}`);
  if (!Number.isSafeInteger(classes) || classes < 1) corrupt(`bad classes ${JSON.stringify(classes)}`);
  const meanCount = classes * dim;
  const precisionCount = kind === "full" ? dim * dim : dim;
  const expected = 4 * (meanCount + precisionCount);
  const got = bytes.length - newline - 1;
  if (got !== expected) {
    corrupt(
      `${got < expected ? "truncated" : "trailing bytes"}: expected ${expected} data bytes, got ${got}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + newline + 1, expected);
  const read = (count: number, start: number, what: string): Float32Array => {
    const arr = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = view.getFloat32(start + 4 * i, true);
      if (!Number.isFinite(v)) corrupt(`${what} value ${i} is not finite`);
      arr[i] = v;
    }
    return arr;
  };
  const means = read(meanCount, 0, "mean");
  const precision = read(precisionCount, 4 * meanCount, "precision");
  return { dim, classes, means, precision, kind };
}
