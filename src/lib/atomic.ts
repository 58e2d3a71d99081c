import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
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

/** Removes a folder so that readers see it vanish at once: renamed to a hidden sibling, then deleted. */
export async function removeDirAtomic(dir: string): Promise<void> {
  const trash = path.join(
    path.dirname(dir),
    `.trash-${path.basename(dir)}-${randomBytes(4).toString("hex")}`,
  );
  await rename(dir, trash);
  await rm(trash, { recursive: true, force: true });
}

/** A JSON file's value, or undefined when it is missing or unreadable. */
export async function readJsonFile<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** `<root>/<name>/<file>` for every folder name that `accept` takes, newest `createdAt` first. */
export async function readJsonRecords<T extends { createdAt: string }>(
  root: string,
  file: string,
  accept: (name: string) => boolean,
): Promise<T[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const found = await Promise.all(names.filter(accept).map((n) => readJsonFile<T>(path.join(root, n, file))));
  return found
    .filter((r): r is Awaited<T> => r !== undefined)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}
