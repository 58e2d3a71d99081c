import path from "node:path";

/** The folders under DATA_DIR. */
export interface DataPaths {
  root: string;
  datasets: string;
  uploads: string;
  models: string;
  checkpoints: string;
  features: string;
  cache: string;
}

/** Lays out DATA_DIR. */
export function dataPaths(root: string): DataPaths {
  return {
    root,
    datasets: path.join(root, "datasets"),
    uploads: path.join(root, "uploads"),
    models: path.join(root, "models"),
    checkpoints: path.join(root, "checkpoints"),
    features: path.join(root, "cache", "features"),
    cache: path.join(root, "cache"),
  };
}

/** Whether an id is safe to use as one path segment. */
export function isSafeId(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,128}$/.test(id);
}
