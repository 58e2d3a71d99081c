/**
 * Readers for the IDX format of MNIST-style data sets (http://yann.lecun.com/exdb/mnist/), gzipped or plain:
 * a big-endian 32-bit magic number (0x00000803 = 2051 for unsigned-byte 3-D images, 0x00000801 = 2049 for
 * unsigned-byte 1-D labels), one big-endian 32-bit size per dimension, then the bytes in row-major order.
 */
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";

const gunzipAsync = promisify(gunzip);

export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** `count * rows * cols` bytes, image after image, each row-major (0 = background). */
  pixels: Uint8Array;
}

/** The bytes of `file`, gunzipped when they start with the gzip signature (1f 8b). */
async function readMaybeGzipped(file: string): Promise<Buffer> {
  const raw = await readFile(file);
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return raw;
  try {
    return await gunzipAsync(raw);
  } catch (e) {
    throw new Error(`${file}: not a valid gzip file (${(e as Error).message}); truncated download?`);
  }
}

/** Checks the magic number and header size, and returns the dimension sizes. */
function header(buf: Buffer, file: string, magic: number, dims: number, what: string): number[] {
  const headerBytes = 4 + 4 * dims;
  if (buf.length < headerBytes) {
    throw new Error(
      `${file}: truncated IDX ${what} file: ${buf.length} bytes, the header alone needs ${headerBytes}`,
    );
  }
  const found = buf.readUInt32BE(0);
  if (found !== magic) {
    throw new Error(
      `${file}: bad IDX magic number ${found} (0x${found.toString(16).padStart(8, "0")}), ` +
        `expected ${magic} for ${what}`,
    );
  }
  return Array.from({ length: dims }, (_, i) => buf.readUInt32BE(4 + 4 * i));
}

/** Checks that the payload after the header has exactly `expected` bytes. */
function payload(buf: Buffer, file: string, offset: number, expected: number, what: string): Uint8Array {
  const have = buf.length - offset;
  if (have < expected) {
    throw new Error(
      `${file}: truncated IDX ${what} file: header announces ${expected} data bytes, found ${have}`,
    );
  }
  if (have > expected) {
    throw new Error(`${file}: IDX ${what} file has ${have - expected} unexpected bytes after the data`);
  }
  return new Uint8Array(buf.buffer, buf.byteOffset + offset, expected);
}

/** Reads an IDX3 unsigned-byte image file (magic 2051), gzipped or plain. */
export async function readIdxImages(file: string): Promise<IdxImages> {
  const buf = await readMaybeGzipped(file);
  const [count, rows, cols] = header(buf, file, IDX_IMAGES_MAGIC, 3, "images");
  const pixels = payload(buf, file, 16, count * rows * cols, "images");
  return { count, rows, cols, pixels };
}

/** Reads an IDX1 unsigned-byte label file (magic 2049), gzipped or plain. */
export async function readIdxLabels(file: string): Promise<Uint8Array> {
  const buf = await readMaybeGzipped(file);
  const [count] = header(buf, file, IDX_LABELS_MAGIC, 1, "labels");
  return payload(buf, file, 8, count, "labels");
}
