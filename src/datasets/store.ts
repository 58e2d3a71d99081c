import { randomUUID } from "node:crypto";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { ConflictError, NotFoundError, UnprocessableError } from "../errors.js";
import { readJsonFile, readJsonRecords, removeDirAtomic, writeJsonAtomic } from "../lib/atomic.js";
import { isSafeId } from "../lib/paths.js";
import type { PackSpan } from "./pack.js";
import type { DatasetReport } from "./report.js";
import type { Dataset, DatasetItems, DatasetListItem } from "./schemas.js";

/** Datasets whose image index {@link DatasetStore.image} keeps in memory. */
const SPAN_CACHE = 4;

/**
 * Datasets on disk, one folder each: `dataset.json` (the record, from the upload on), `upload.archive`
 * (the uploaded bytes, until ingestion ends), and once ready `items.json` (every usable image, its class
 * and where it lies in `images.pack`), `report.json` and `images.pack` (the images, one after another;
 * datasets ingested before the pack keep them in `files/`). A dataset appears complete (its folder built under a
 * temporary name, then renamed) and disappears at once on delete (renamed away, then removed).
 */
export class DatasetStore {
  /** Pack spans by path of the datasets whose images were served last (a few, most recent last). */
  private readonly spans = new Map<string, Map<string, PackSpan>>();

  constructor(readonly root: string) {}

  /** A dataset's folder. */
  dir(id: string): string {
    return path.join(this.root, id);
  }

  /** The folder holding a dataset's images. */
  filesDir(id: string): string {
    return path.join(this.root, id, "files");
  }

  /** The file holding a dataset's images one after another (see `DatasetItem.at`). */
  packPath(id: string): string {
    return path.join(this.root, id, "images.pack");
  }

  /** The uploaded archive of a dataset that is being ingested. */
  archivePath(id: string): string {
    return path.join(this.root, id, "upload.archive");
  }

  /** Records a new dataset of `tenant` in state `ingesting`, taking over (renaming) the uploaded archive file. */
  async create(archive: string, name: string, tenant?: string): Promise<Dataset> {
    const id = `ds_${randomUUID().replaceAll("-", "")}`;
    await mkdir(this.root, { recursive: true });
    const tmp = path.join(this.root, `.tmp-${id}`);
    await mkdir(tmp, { recursive: true });
    const dataset: Dataset = {
      id,
      name,
      ...(tenant ? { tenant } : {}),
      bytes: (await stat(archive)).size,
      createdAt: new Date().toISOString(),
      state: "ingesting",
      progress: { files: 0, done: 0, percent: 0, imagesPerSec: 0 },
      classes: [],
      splits: { train: { images: 0, perClass: {} } },
      rejected: [],
      rejectedCount: 0,
      ignored: 0,
    };
    try {
      await rename(archive, path.join(tmp, "upload.archive"));
      await writeJsonAtomic(path.join(tmp, "dataset.json"), dataset);
      await rename(tmp, this.dir(id));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    return dataset;
  }

  /** Rewrites a record with `patch` applied (one writer at a time: the ingestion job). */
  async update(id: string, patch: Partial<Dataset>): Promise<Dataset> {
    const next = { ...(await this.get(id)), ...patch };
    await writeJsonAtomic(path.join(this.dir(id), "dataset.json"), next);
    return next;
  }

  /** Stores what ingestion found: the usable items of each split and the report. */
  async saveContents(id: string, items: DatasetItems, report: DatasetReport): Promise<void> {
    await writeJsonAtomic(path.join(this.dir(id), "items.json"), items);
    await writeJsonAtomic(path.join(this.dir(id), "report.json"), report);
  }

  /** A dataset's record, or a 404. */
  async get(id: string): Promise<Dataset> {
    const found = isSafeId(id)
      ? await readJsonFile<Dataset>(path.join(this.root, id, "dataset.json"))
      : undefined;
    if (!found) throw new NotFoundError("dataset", id);
    return found;
  }

  /**
   * The record of a dataset a job is about to use.
   *
   * @throws UnprocessableError `UNKNOWN_DATASET` when there is none; ConflictError `DATASET_NOT_READY`
   *   while it is ingesting or when its ingestion failed.
   */
  async ready(id: string): Promise<Dataset> {
    const dataset = await this.get(id).catch(() => {
      throw new UnprocessableError(`unknown dataset '${id}'`, "UNKNOWN_DATASET");
    });
    if (dataset.state === "ingesting") {
      throw new ConflictError(
        `dataset '${id}' is still being ingested; wait until it is ready`,
        "DATASET_NOT_READY",
      );
    }
    if (dataset.state === "failed") {
      throw new ConflictError(
        `dataset '${id}' failed ingestion (${dataset.error?.code ?? "error"}); upload it again`,
        "DATASET_NOT_READY",
      );
    }
    return dataset;
  }

  /** A ready dataset's items, or a 404. */
  async items(id: string): Promise<DatasetItems> {
    const found = isSafeId(id)
      ? await readJsonFile<DatasetItems>(path.join(this.root, id, "items.json"))
      : undefined;
    if (!found) throw new NotFoundError("dataset", id);
    return found;
  }

  /**
   * Where one image of a ready dataset is stored: a byte range of its pack, or its own file (datasets
   * ingested before the pack). Undefined when the dataset has no such image.
   */
  async image(id: string, rel: string): Promise<{ file: string; start?: number; end?: number } | undefined> {
    let spans = this.spans.get(id);
    if (!spans) {
      const items = await this.items(id);
      spans = new Map();
      for (const list of [items.train, items.val ?? [], items.test ?? []]) {
        for (const i of list) spans.set(i.path, i.at ?? [-1, 0]);
      }
      this.spans.set(id, spans);
      if (this.spans.size > SPAN_CACHE) this.spans.delete(this.spans.keys().next().value as string);
    }
    const at = spans.get(rel);
    if (!at) return undefined;
    if (at[0] < 0) return { file: path.join(this.filesDir(id), rel) };
    return { file: this.packPath(id), start: at[0], end: at[0] + at[1] - 1 };
  }

  /** A ready dataset's report, or undefined. */
  report(id: string): Promise<DatasetReport | undefined> {
    return readJsonFile<DatasetReport>(path.join(this.dir(id), "report.json"));
  }

  /** All datasets, newest first, with counts but without their lists of rejected files. */
  async list(): Promise<DatasetListItem[]> {
    const all = await readJsonRecords<Dataset>(this.root, "dataset.json", (n) => n.startsWith("ds_"));
    return all.map(({ rejected: _, ...rest }) => rest);
  }

  /** Deletes a dataset (404 when unknown). */
  async delete(id: string): Promise<void> {
    await this.get(id);
    this.spans.delete(id);
    await removeDirAtomic(this.dir(id));
  }
}
