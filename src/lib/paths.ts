import path from "node:path";
import { fileURLToPath } from "node:url";

/** Files that ship with the server (calibration photos), beside src/. */
export const ASSETS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "assets");
/** Real photographs (500x375 JPEG) used to calibrate int8 backbones, and by tests and benchmarks. */
export const PHOTOS_DIR = path.join(ASSETS_DIR, "photos");

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
