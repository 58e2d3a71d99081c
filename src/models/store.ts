import path from "node:path";
import { NotFoundError } from "../errors.js";
import {
  publishDirAtomic,
  readJsonFile,
  readJsonRecords,
  removeDirAtomic,
  writeJsonAtomic,
} from "../lib/atomic.js";
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
    const found = isSafeId(id)
      ? await readJsonFile<ModelManifest>(path.join(this.root, id, "manifest.json"))
      : undefined;
    if (!found) throw new NotFoundError("model", id);
    return found;
  }

  /** All models, newest first. */
  list(): Promise<ModelManifest[]> {
    return readJsonRecords<ModelManifest>(this.root, "manifest.json", isSafeId);
  }

  /** Deletes a model (404 when unknown). */
  async delete(id: string): Promise<void> {
    await this.get(id);
    await removeDirAtomic(this.dir(id));
  }
}
