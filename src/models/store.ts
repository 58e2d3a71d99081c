import { readFile, writeFile } from "node:fs/promises";
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
import type { Misclassified } from "../training/evaluate.js";
import type { ModelManifest } from "./schemas.js";

/** The model id a job produces: derived from the job id, so a retried job cannot write two models. */
export function modelIdForJob(jobId: string): string {
  return `mdl_${jobId.replace(/^job_/, "")}`;
}

/** File of a model folder holding the unknown rule's class statistics (raw feature space). */
const OPEN_SET_FILE = "open-set.bin";
/** File of a model folder listing the evaluation split's errors, most confident first. */
const MISCLASSIFIED_FILE = "misclassified.json";
const MANIFEST_FILE = "manifest.json";

/** What a new model is made of besides its manifest, as training hands it over to {@link ModelStore.publish}. */
export interface ModelFiles {
  /** Writes the head (TF.js layers files) into the folder it is given, a staging folder of the store's. */
  writeHead(dir: string): Promise<void>;
  /** The unknown rule's class statistics, encoded; absent when the model has no unknown rule. */
  openSet?: Uint8Array;
  /** The evaluation split's errors, most confident first. */
  misclassified: unknown[];
}

/**
 * Models on disk: `<root>/<id>/` holds `manifest.json`, the head's TF.js files, `open-set.bin` and
 * `misclassified.json`, each model written once, atomically. Only this class knows the folder's layout.
 */
export class ModelStore {
  constructor(readonly root: string) {}

  /** A model's folder (the head's files are read from it). */
  dir(id: string): string {
    return path.join(this.root, id);
  }

  /**
   * Publishes a model once: its files go into a staging folder, the manifest last, and the folder is renamed
   * into place. Returns false when the model already exists (nothing is changed).
   */
  publish(manifest: ModelManifest, files: ModelFiles): Promise<boolean> {
    return publishDirAtomic(this.dir(manifest.id), async (staging) => {
      await files.writeHead(staging);
      if (files.openSet) await writeFile(path.join(staging, OPEN_SET_FILE), files.openSet);
      await writeFile(path.join(staging, MISCLASSIFIED_FILE), JSON.stringify(files.misclassified));
      await writeJsonAtomic(path.join(staging, MANIFEST_FILE), manifest);
    });
  }

  /** A model's encoded unknown-rule statistics (written by {@link publish} when the model has the rule). */
  readOpenSet(id: string): Promise<Buffer> {
    return readFile(path.join(this.dir(id), OPEN_SET_FILE));
  }

  /** The evaluation split's errors of a model, most confident first (empty for a model without the file). */
  async readMisclassified(id: string): Promise<Misclassified[]> {
    return (await readJsonFile<Misclassified[]>(path.join(this.dir(id), MISCLASSIFIED_FILE))) ?? [];
  }

  /** A model's manifest, or a 404. */
  async get(id: string): Promise<ModelManifest> {
    const found = isSafeId(id)
      ? await readJsonFile<ModelManifest>(path.join(this.root, id, MANIFEST_FILE))
      : undefined;
    if (!found) throw new NotFoundError("model", id);
    return found;
  }

  /** All models, newest first. */
  list(): Promise<ModelManifest[]> {
    return readJsonRecords<ModelManifest>(this.root, MANIFEST_FILE, isSafeId);
  }

  /** Deletes a model (404 when unknown). */
  async delete(id: string): Promise<void> {
    await this.get(id);
    await removeDirAtomic(this.dir(id));
  }
}
