import { askForKey, authHeaders } from "./auth";
import { ApiError } from "./client";
import type { Dataset, ErrorBody } from "./types";

/** Bytes sent so far of an upload. */
export interface UploadProgress {
  loaded: number;
  total: number;
}

function send(form: FormData, onProgress: (p: UploadProgress) => void): Promise<XMLHttpRequest> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/datasets");
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : 0 });
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => reject(new ApiError(0, "NETWORK_ERROR", "the upload was interrupted"));
    xhr.send(form);
  });
}

/**
 * POST /v1/datasets as multipart (`file`, `name`) with upload progress (fetch has none: XMLHttpRequest).
 * Resolves with the dataset (state `ingesting`) once the server has the bytes.
 */
export async function uploadDataset(
  file: File,
  name: string,
  onProgress: (p: UploadProgress) => void,
): Promise<Dataset> {
  for (let attempt = 0; ; attempt++) {
    const form = new FormData();
    if (name) form.append("name", name);
    form.append("file", file, file.name);
    const xhr = await send(form, onProgress);
    if (xhr.status === 401 && attempt === 0 && (await askForKey())) continue;
    const body = xhr.response as Dataset | ErrorBody | null;
    if (xhr.status >= 200 && xhr.status < 300) return body as Dataset;
    const error = (body as ErrorBody | null)?.error;
    throw new ApiError(xhr.status, error?.code ?? `HTTP_${xhr.status}`, error?.message ?? xhr.statusText);
  }
}
