import { randomUUID } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { validateImage } from "../backbones/preprocess.js";
import { ImageError, NotFoundError } from "../errors.js";
import { readJsonFile, readJsonRecords, removeDirAtomic, writeJsonAtomic } from "../lib/atomic.js";
import { isSafeId } from "../lib/paths.js";
import { extractArchive } from "./archive.js";
import { assertUsableClasses, countPerClass, detectLayout } from "./layout.js";
import type { Dataset, DatasetItem, DatasetItems } from "./schemas.js";

/** Limits applied to an uploaded archive and its images. */
export interface IngestLimits {
  maxFiles: number;
  maxUnpackedBytes: number;
  maxImagePixels: number;
}

const SPLITS = ["train", "val", "test"] as const;

/**
 * Datasets on disk: `<root>/<id>/dataset.json` (the record), `items.json` (every usable image and its
 * class) and `files/` (the extracted archive). A dataset appears only once complete (built in a
 * temporary folder, then renamed) and disappears at once on delete (renamed away, then removed).
 */
export class DatasetStore {
  constructor(readonly root: string) {}

  /** The folder holding a dataset's extracted files. */
  filesDir(id: string): string {
    return path.join(this.root, id, "files");
  }

  /**
   * Builds a dataset from an archive file: safe extraction, layout detection, one full decode of every
   * image (failures are listed in `rejected`), then publication under a new id.
   */
  async createFromArchive(
    archive: string,
    name: string,
    limits: IngestLimits,
    concurrency = 4,
  ): Promise<Dataset> {
    const id = `ds_${randomUUID().replaceAll("-", "")}`;
    await mkdir(this.root, { recursive: true });
    const tmp = path.join(this.root, `.tmp-${id}`);
    const files = path.join(tmp, "files");
    await mkdir(files, { recursive: true });
    try {
      const extracted = await extractArchive(archive, files, limits);
      const layout = detectLayout(extracted.files);
      const rejected: { path: string; reason: string }[] = [];
      const all = SPLITS.flatMap((s) => layout.splits[s] ?? []);
      const bad = new Set<string>();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < all.length) {
            const item = all[next++];
            try {
              await validateImage(path.join(files, item.path), { maxPixels: limits.maxImagePixels });
            } catch (err) {
              bad.add(item.path);
              rejected.push({
                path: item.path,
                reason: err instanceof ImageError ? err.reason : (err as Error).message,
              });
            }
          }
        }),
      );
      const items: DatasetItems = { train: layout.splits.train.filter((i) => !bad.has(i.path)) };
      for (const s of ["val", "test"] as const) {
        const kept = layout.splits[s]?.filter((i) => !bad.has(i.path));
        if (kept && kept.length > 0) items[s] = kept;
      }
      assertUsableClasses(layout.classes, items.train);
      const summary = (list: DatasetItem[]) => ({
        images: list.length,
        perClass: zeroFill(layout.classes, countPerClass(list)),
      });
      const dataset: Dataset = {
        id,
        name,
        createdAt: new Date().toISOString(),
        classes: layout.classes,
        splits: {
          train: summary(items.train),
          ...(items.val ? { val: summary(items.val) } : {}),
          ...(items.test ? { test: summary(items.test) } : {}),
        },
        rejected: rejected.sort((a, b) => (a.path < b.path ? -1 : 1)),
        ignored: extracted.ignored.length + layout.ignored.length,
      };
      await writeJsonAtomic(path.join(tmp, "items.json"), items);
      await writeJsonAtomic(path.join(tmp, "dataset.json"), dataset);
      await rename(tmp, path.join(this.root, id));
      return dataset;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** A dataset's record, or a 404. */
  async get(id: string): Promise<Dataset> {
    const found = isSafeId(id)
      ? await readJsonFile<Dataset>(path.join(this.root, id, "dataset.json"))
      : undefined;
    if (!found) throw new NotFoundError("dataset", id);
    return found;
  }

  /** Whether a dataset exists. */
  async exists(id: string): Promise<boolean> {
    return this.get(id).then(
      () => true,
      () => false,
    );
  }

  /** A dataset's items, or a 404. */
  async items(id: string): Promise<DatasetItems> {
    const found = isSafeId(id)
      ? await readJsonFile<DatasetItems>(path.join(this.root, id, "items.json"))
      : undefined;
    if (!found) throw new NotFoundError("dataset", id);
    return found;
  }

  /** All datasets, newest first. */
  list(): Promise<Dataset[]> {
    return readJsonRecords<Dataset>(this.root, "dataset.json", (n) => !n.startsWith("."));
  }

  /** Deletes a dataset (404 when unknown). */
  async delete(id: string): Promise<void> {
    await this.get(id);
    await removeDirAtomic(path.join(this.root, id));
  }
}

function zeroFill(classes: string[], counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(classes.map((c) => [c, counts[c] ?? 0]));
}
