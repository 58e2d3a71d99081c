import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Writes a file atomically: a temporary file in the same folder, then renamed over the target. `durable`
 * (default true) fsyncs the data before the rename; caches that verify what they read may skip it.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  durable = true,
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, data, { flush: durable });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes JSON atomically (see {@link writeFileAtomic}). */
export function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(value, null, 2));
}

/**
 * Publishes a folder atomically: `build` fills a temporary sibling folder, which is then renamed to `dir`.
 * Returns false (and discards the temporary folder) when `dir` already exists.
 */
export async function publishDirAtomic(
  dir: string,
  build: (tmpDir: string) => Promise<void>,
): Promise<boolean> {
  const tmp = `${dir}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await mkdir(tmp, { recursive: true });
  try {
    await build(tmp);
    await rename(tmp, dir);
    return true;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ENOTEMPTY") return false;
    throw err;
  }
}
