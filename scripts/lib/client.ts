import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/** The fields of a dataset record that scripts read. */
export interface Dataset {
  id: string;
  state: "ingesting" | "ready" | "failed";
  splits: Record<string, { images: number }>;
  progress?: { files: number; done: number; percent: number; imagesPerSec: number };
  summary?: Record<string, number>;
  error?: { code: string; message: string };
}

/** A minimal client of the v1 HTTP API, as any user would write it (fetch + JSON). */
export class ApiClient {
  constructor(readonly base: string) {}

  /** JSON request; throws with the API's error message on a non-2xx status. */
  async json<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(new URL(route, this.base), {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** POSTs images as one multipart predict request (fields `image`); the parsed JSON answer. */
  async predictMany<T>(modelId: string, images: Buffer[], query = ""): Promise<T> {
    const form = new FormData();
    for (const [i, img] of images.entries()) form.append("image", new Blob([img]), `${i}.img`);
    const res = await fetch(new URL(`/v1/models/${modelId}/predict${query}`, this.base), {
      method: "POST",
      body: form,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`predict: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** Uploads an archive as a dataset: the `202` answer (state `ingesting`). */
  async uploadDataset(archive: Buffer, fileName: string, name: string): Promise<Dataset> {
    const form = new FormData();
    form.append("name", name);
    form.append("file", new Blob([archive]), fileName);
    const res = await fetch(new URL("/v1/datasets", this.base), { method: "POST", body: form });
    const text = await res.text();
    if (res.status !== 202) throw new Error(`upload: HTTP ${res.status} ${text}`);
    return JSON.parse(text);
  }

  /** Polls a dataset until it is `ready` (returned) or `failed` (thrown), calling `onPoll` with each state. */
  async waitForDataset(id: string, onPoll?: (d: Dataset) => void, intervalMs = 250): Promise<Dataset> {
    for (;;) {
      const dataset = await this.json<Dataset>("GET", `/v1/datasets/${id}`);
      onPoll?.(dataset);
      if (dataset.state === "ready") return dataset;
      if (dataset.state === "failed")
        throw new Error(`dataset ${id} failed: ${JSON.stringify(dataset.error)}`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Polls a job until it finishes, calling `onPoll` with each state. */
  async waitForJob<T extends { state: string }>(
    id: string,
    onPoll?: (job: T) => void,
    intervalMs = 1000,
  ): Promise<T> {
    for (;;) {
      const job = await this.json<T>("GET", `/v1/jobs/${id}`);
      onPoll?.(job);
      if (["completed", "failed", "cancelled"].includes(job.state)) return job;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Waits until /readyz answers 200. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const ok = await fetch(new URL("/readyz", this.base)).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`server at ${this.base} not ready after ${timeoutMs} ms`);
  }
}

/** A server (API + train worker + predict worker) started by a script, on a fresh data folder. */
export interface LocalServer {
  url: string;
  /** Its DATA_DIR. */
  dataDir: string;
  children: ChildProcess[];
  /** PID of the process running a given entry point. */
  pid(entry: "api" | "train" | "predict"): number;
  stop(): Promise<void>;
}

/** Starts the three processes with a temporary DATA_DIR and a unique queue prefix on `port`. */
export async function startLocalServer(port: number, env: Record<string, string> = {}): Promise<LocalServer> {
  const ownDir = env.DATA_DIR === undefined;
  const dataDir = env.DATA_DIR ?? (await mkdtemp(path.join(os.tmpdir(), "tls-bench-")));
  const fullEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(port),
    QUEUE_PREFIX: `bench-${process.pid}`,
    LOG_LEVEL: "warn",
    ...env,
  };
  const entries = { api: "src/server.ts", train: "workers/train.ts", predict: "workers/predict.ts" } as const;
  const children = Object.values(entries).map((e) =>
    spawn(process.execPath, ["--import", "tsx", e], { env: fullEnv, stdio: ["ignore", "ignore", "inherit"] }),
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(
      children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)))),
    );
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await new ApiClient(url).waitReady();
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, dataDir, children, pid: (entry) => children[Object.keys(entries).indexOf(entry)].pid!, stop };
}
