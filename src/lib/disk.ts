import { statfs } from "node:fs/promises";
import { InsufficientStorageError } from "../errors.js";

/** Space on the file system that holds a folder, in bytes. */
export interface DiskSpace {
  /** Bytes an unprivileged process may still write. */
  freeBytes: number;
  totalBytes: number;
}

/** Free and total bytes of the file system holding `dir` (which must exist). */
export async function diskSpace(dir: string): Promise<DiskSpace> {
  const s = await statfs(dir);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/** Whether an error (or one of its causes) is a full disk or an exhausted quota (ENOSPC, EDQUOT). */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOSPC" || code === "EDQUOT") return true;
  }
  return false;
}

/**
 * Refuses (507 INSUFFICIENT_STORAGE) a write of about `bytes` into `dir` that would leave less than
 * `reserveBytes` free on its disk.
 */
export async function assertRoomFor(dir: string, bytes: number, reserveBytes: number): Promise<void> {
  const { freeBytes } = await diskSpace(dir);
  if (freeBytes - bytes >= reserveBytes) return;
  throw new InsufficientStorageError(
    `not enough disk space on the server: ${mib(freeBytes)} MiB free, this needs about ${mib(bytes)} MiB ` +
      `and ${mib(reserveBytes)} MiB stay in reserve (MIN_FREE_DISK_MB)`,
  );
}

function mib(bytes: number): string {
  return (Math.max(0, bytes) / 1024 ** 2).toFixed(1);
}
