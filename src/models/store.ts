import { readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { NotFoundError } from "../errors.js";
import { publishDirAtomic, writeJsonAtomic } from "../lib/atomic.js";
import { isSafeId } from "../lib/paths.js";
import type { ModelManifest } from "./schemas.js";

/** The model id a job produces: derived from the job id, so a retried job cannot write two models. */
export function modelIdForJob(jobId: string): string {
  return `mdl_${jobId.replace(/^job_/, "")}`;
}

/** Models on disk: `<root>/<id>/manifest.json` plus the head's TF.js files, each written once, atomically. */
export class ModelStore {
  constructor(readonly root: string) {}

  /** A model's folder. */
  dir(id: string): string {
    return path.join(this.root, id);
  }

  /**
   * Publishes a model folder once: `writeFiles` fills a temporary folder, the manifest is added, and the
   * folder is renamed into place. Returns false when the model already exists (nothing is changed).
   */
  publish(manifest: ModelManifest, writeFiles: (dir: string) => Promise<void>): Promise<boolean> {
    return publishDirAtomic(this.dir(manifest.id), async (tmp) => {
      await writeFiles(tmp);
      await writeJsonAtomic(path.join(tmp, "manifest.json"), manifest);
    });
  }

  /** A model's manifest, or a 404. */
  async get(id: string): Promise<ModelManifest> {
    const found = isSafeId(id) ? await readManifest(path.join(this.root, id)) : undefined;
    if (!found) throw new NotFoundError("model", id);
    return found;
  }

  /** All models, newest first. */
  async list(): Promise<ModelManifest[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const found = await Promise.all(
      names.filter((n) => isSafeId(n)).map((n) => readManifest(path.join(this.root, n))),
    );
    return found
      .filter((m): m is ModelManifest => m !== undefined)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Deletes a model (404 when unknown). */
  async delete(id: string): Promise<void> {
    await this.get(id);
    const trash = path.join(this.root, `.trash-${id}-${Date.now()}`);
    await rename(this.dir(id), trash);
    await rm(trash, { recursive: true, force: true });
  }
}

async function readManifest(dir: string): Promise<ModelManifest | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as ModelManifest;
  } catch {
    return undefined;
  }
}
