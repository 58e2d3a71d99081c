import { execFile } from "node:child_process";
import { mkdtemp, rm, statfs, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A small file system of a test's own: a tmpfs of a fixed size, mounted on a temporary folder. */
export interface SmallDisk {
  dir: string;
  /** Bytes still free. */
  free(): Promise<number>;
  /** Writes a ballast file so that about `leaveBytes` stay free. */
  fill(leaveBytes: number): Promise<void>;
  /** Removes the ballast. */
  unfill(): Promise<void>;
  /** Unmounts it and removes the folder. */
  close(): Promise<void>;
}

/**
 * Mounts a tmpfs of `sizeBytes` (needs root, as CI and these machines run tests). Fails with the reason
 * when it cannot be mounted: a disk-full test without a small disk would prove nothing.
 */
export async function mountSmallDisk(sizeBytes: number): Promise<SmallDisk> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tls-small-disk-"));
  try {
    await run("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`cannot mount a ${sizeBytes}-byte tmpfs (root needed): ${(err as Error).message}`);
  }
  const ballast = path.join(dir, ".ballast");
  const free = async () => {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    free,
    async fill(leaveBytes) {
      await rm(ballast, { force: true });
      await writeFile(ballast, Buffer.alloc(Math.max(0, (await free()) - leaveBytes)));
    },
    unfill: () => rm(ballast, { force: true }),
    async close() {
      await run("umount", ["-l", dir]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
