import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { photo, photoVariants } from "../../scripts/lib/photos.js";
import { Api } from "../../src/cli/api.js";
import { type Stack, startStack } from "../helpers/stack.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const KEY = "cli-test-admin-key-0123456789abcdef";
const CLASSES = ["cat", "coffee"] as const;
const TRAIN = 8;
const TEST = 2;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

type Line = Record<string, unknown> & { event?: string; error?: { code: string; message: string } };

/** Waits for a child's end, collecting its output; `onStdout` sees stdout as it grows. */
function collect(child: ChildProcess, onStdout?: (all: string) => void): Promise<Run> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
    onStdout?.(stdout);
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** stdout's JSON lines (every non-empty line must be one). */
function lines(run: Run): Line[] {
  return run.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        throw new Error(`stdout line is not JSON: ${l}\n--- stderr:\n${run.stderr}`);
      }
    });
}

const show = (r: Run) => `exit ${r.code} (${r.signal})\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;

/** Whether a terminal recording shows a bar: the cursor hidden, bar cells, lines redrawn in place. */
function drewBar(recording: string): boolean {
  return recording.includes("\x1b[?25l") && recording.includes("\u2588") && recording.includes("\x1b[1G");
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: a carriage return or CSI 1G (cursor to column 1)
const LINE_START = /\r|\u001b\[1?G/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: CSI sequences and DEC save/restore cursor
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]/g;

/**
 * The lines a terminal shows after a recording, roughly: what is written after the last return to the
 * line's start (`\r` or CSI 1G, each followed by clearing in this CLI) stays, ANSI sequences are removed,
 * and npm's own lines (its warning, its spinner's braille frames) are left out.
 */
function screenLines(recording: string): string[] {
  return recording
    .split("\n")
    .map((line) => {
      const segments = line.split(LINE_START).filter((s) => s !== "");
      return (segments.at(-1) ?? "").replace(ANSI, "").trimEnd();
    })
    .filter((l) => l.replace(/[\u2800-\u28ff\s]/g, "") !== "" && !l.includes("npm warn"));
}

/**
 * An HTTP proxy in front of the API that cuts the first job event stream after its first event; `streams`
 * holds the Last-Event-ID header of each event stream request, `forwarded` the id of the event it cut after.
 */
async function droppingProxy(upstream: string) {
  const streams: (string | undefined)[] = [];
  const forwarded: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    const events = /\/events$/.test(req.url ?? "");
    const lastId = req.headers["last-event-id"] as string | undefined;
    const cut = events && streams.length === 0;
    if (events) streams.push(lastId);
    const up = http.request(
      new URL(req.url ?? "/", upstream),
      { method: req.method, headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (!events) {
          ur.pipe(res);
          return;
        }
        let buffer = "";
        ur.setEncoding("utf8");
        ur.on("data", (chunk: string) => {
          buffer += chunk;
          for (let at = buffer.indexOf("\n\n"); at >= 0; at = buffer.indexOf("\n\n")) {
            const block = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            const event = `${block}\n\n`;
            if (cut && !block.startsWith(":")) {
              // The connection breaks once the event has gone out (no end of the chunked body).
              forwarded.push(/^id: (.*)$/m.exec(block)?.[1]);
              ur.destroy();
              res.write(event, () => res.destroy());
              return;
            }
            res.write(event);
          }
        });
        ur.on("end", () => res.end());
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    streams,
    forwarded,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A TCP port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe("transfer CLI (npx transfer) against a real stack", { timeout: 600_000 }, () => {
  let stack: Stack;
  let url: string;
  let tmp: string;
  let folder: string;
  let datasetId: string;
  let modelId: string;
  const testImages: string[] = [];

  const env = (extra: Record<string, string> = {}) => ({
    ...process.env,
    TRANSFER_URL: url,
    TRANSFER_API_KEY: KEY,
    NO_COLOR: "",
    ...extra,
  });
  /** `npx transfer ...args` from the repository root, as a user runs it. */
  const npx = (args: string[], extra: Record<string, string> = {}) =>
    collect(
      spawn("npx", ["transfer", ...args], { cwd: ROOT, env: env(extra), stdio: ["ignore", "pipe", "pipe"] }),
    );
  /** The same in a pseudo-terminal (util-linux `script`): stdout and stderr are one TTY. */
  const npxTty = (args: string[]) =>
    collect(
      spawn("script", ["-qfec", `npx transfer ${args.join(" ")}`, "/dev/null"], {
        cwd: ROOT,
        env: env({ TERM: "xterm-256color", COLUMNS: "120" }),
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );

  before(async () => {
    stack = await startStack({ AUTH: "on", ADMIN_API_KEY: KEY });
    await stack.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = stack.app.server.address() as { port: number };
    url = `http://127.0.0.1:${port}`;
    stack.spawnWorker("predict");
    tmp = await mkdtemp(path.join(os.tmpdir(), "tls-cli-"));
    folder = path.join(tmp, "cats-coffee");
    for (const [ci, cls] of CLASSES.entries()) {
      const imgs = await photoVariants(cls, TRAIN + TEST, 40 + ci);
      for (const [i, img] of imgs.entries()) {
        const split = i < TRAIN ? "train" : "test";
        await mkdir(path.join(folder, split, cls), { recursive: true });
        const file = path.join(folder, split, cls, `${cls}_${i}.jpg`);
        await writeFile(file, img);
        if (split === "test") testImages.push(file);
      }
    }
    // Junk a real folder has; the packed tar leaves hidden files out.
    await writeFile(path.join(folder, ".DS_Store"), "junk");
  });

  after(async () => {
    await stack?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("datasets push <folder> --wait --json: packs, uploads, waits, one JSON line of the ready dataset", async () => {
    const run = await npx(["datasets", "push", folder, "--wait", "--json", "--name", "cats-coffee"]);
    assert.equal(run.code, 0, show(run));
    const out = lines(run);
    assert.equal(out.length, 1, show(run));
    const d = out[0] as {
      id: string;
      state: string;
      name: string;
      classes: string[];
      splits: Record<string, { images: number }>;
    };
    assert.match(d.id, /^ds_/);
    assert.equal(d.state, "ready", show(run));
    assert.equal(d.name, "cats-coffee");
    assert.deepEqual(d.classes, [...CLASSES]);
    assert.equal(d.splits.train.images, 2 * TRAIN);
    assert.equal(d.splits.test.images, 2 * TEST);
    assert.ok(
      !run.stdout.includes("\x1b") && !run.stdout.includes("\r"),
      "no bars or colours in --json output",
    );
    datasetId = d.id;
  });

  it("Ctrl-C while following leaves the job queued and says how to reattach (exit 130)", async () => {
    // No train worker yet: the job stays queued while the CLI follows it.
    const child = spawn(
      process.execPath,
      ["bin/transfer.mjs", "train", datasetId, "--epochs", "2", "--follow", "--json"],
      {
        cwd: ROOT,
        env: env(),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let sent = false;
    const run = await collect(child, (all) => {
      if (!sent && all.includes('"event":"progress"')) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    assert.equal(run.code, 130, show(run));
    const out = lines(run);
    const jobId = String(out[0].jobId);
    assert.equal(out[0].event, "job");
    assert.match(jobId, /^job_/);
    assert.match(
      run.stderr,
      new RegExp(`job ${jobId} is still queued; reattach with: transfer jobs follow ${jobId}`),
    );
    assert.equal(out.at(-1)?.error?.code, "INTERRUPTED", show(run));
    const job = await new Api(new URL(url), KEY).get<{ state: string }>(`/v1/jobs/${jobId}`);
    assert.equal(job.state, "queued", "the job was left alone");

    // A job cancelled while queued: following it ends at once with exit 3.
    const api = new Api(new URL(url), KEY);
    const other = await api.json<{ id: string }>("POST", "/v1/jobs", { datasetId, epochs: 1 });
    const cancel = await npx(["jobs", "cancel", other.id, "--json"]);
    assert.equal(cancel.code, 0, show(cancel));
    assert.deepEqual(lines(cancel), [{ id: other.id, state: "cancelled" }]);
    const cancelled = await npx(["jobs", "follow", other.id, "--json"]);
    assert.equal(cancelled.code, 3, show(cancelled));
    assert.deepEqual(lines(cancelled).at(-1), {
      event: "end",
      jobId: other.id,
      state: "cancelled",
      error: { code: "CANCELLED", message: "the job was cancelled" },
    });

    // Reattach once a worker runs, through a proxy that drops the event stream after its first event: the
    // CLI reconnects with the server's Last-Event-ID and follows to the end.
    stack.spawnWorker("train");
    const proxy = await droppingProxy(url);
    try {
      const again = await npx(["jobs", "follow", jobId, "--json", "--url", proxy.url]);
      assert.equal(again.code, 0, show(again));
      assert.ok(proxy.streams.length >= 2, `reconnected: ${JSON.stringify(proxy.streams)}`);
      assert.match(String(proxy.forwarded[0]), /^\d+\.\d+$/, "the server's event id");
      assert.deepEqual(
        proxy.streams.slice(0, 2),
        [undefined, proxy.forwarded[0]],
        "resumed after the last event id seen",
      );
      const out = lines(again);
      const epochs = out.filter((l) => l.event === "epoch").map((l) => l.epoch);
      assert.deepEqual(epochs, [...new Set(epochs)], "each epoch once");
      const end = out.at(-1)!;
      assert.equal(end.event, "end");
      assert.equal(end.state, "completed", show(again));
      assert.match(String(end.modelId), /^mdl_/);
    } finally {
      await proxy.close();
    }
  });

  it("train <id> --epochs 2 --follow --json: epoch lines, then an end line with the model", async () => {
    const run = await npx(["train", datasetId, "--epochs", "2", "--batch-size", "8", "--follow", "--json"]);
    assert.equal(run.code, 0, show(run));
    const out = lines(run);
    assert.equal(out[0].event, "job");
    const epochs = out.filter((l) => l.event === "epoch");
    assert.ok(epochs.length >= 1 && epochs.length <= 2, show(run));
    epochs.forEach((e, i) => {
      assert.equal(e.epoch, i + 1);
      for (const k of ["loss", "accuracy", "seconds"])
        assert.equal(typeof e[k], "number", `${k}: ${show(run)}`);
    });
    const end = out.at(-1)!;
    assert.equal(end.event, "end");
    assert.equal(end.state, "completed");
    assert.match(String(end.modelId), /^mdl_/);
    const metrics = end.metrics as { split: string; accuracy: number };
    assert.equal(metrics.split, "test");
    assert.ok(metrics.accuracy >= 0 && metrics.accuracy <= 1);
    modelId = String(end.modelId);
  });

  it("predict <model> <images...> --json: one line per image, labels among the classes", async () => {
    const run = await npx(["predict", modelId, ...testImages, "--json"]);
    assert.equal(run.code, 0, show(run));
    const out = lines(run);
    assert.deepEqual(
      out.map((l) => l.file),
      testImages,
    );
    for (const l of out) {
      assert.ok((CLASSES as readonly string[]).includes(String(l.label)), show(run));
      assert.ok(Number(l.probability) > 0 && Number(l.probability) <= 1);
      assert.equal(typeof l.unknown, "boolean");
    }
  });

  it("predict: a quoted glob expands; a broken image fails alone (exit 1), the others still print", async () => {
    const broken = path.join(tmp, "broken.jpg");
    await writeFile(broken, photo("cat").subarray(0, 2000));
    const pattern = path.join(folder, "test", "*", "*.jpg");
    const run = await npx(["predict", modelId, pattern, broken, "--json", "--top-k", "2"]);
    assert.equal(run.code, 1, show(run));
    const out = lines(run);
    assert.equal(out.length, testImages.length + 1, show(run));
    const good = out.filter((l) => !l.error);
    assert.deepEqual(good.map((l) => l.file).sort(), [...testImages].sort());
    for (const l of good) assert.equal((l.predictions as unknown[]).length, 2);
    const bad = out.find((l) => l.error)!;
    assert.equal(bad.file, broken);
    assert.equal(bad.error?.code, "INVALID_IMAGE");
    assert.match(run.stderr, /error: INVALID_IMAGE: .*broken\.jpg/);

    const table = await npx(["predict", modelId, testImages[0]]);
    assert.equal(table.code, 0, show(table));
    const [header, row] = table.stdout.trimEnd().split("\n");
    assert.match(header, /^FILE\s+LABEL\s+PROBABILITY\s+UNKNOWN$/);
    assert.match(
      row,
      new RegExp(
        `^${testImages[0].replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s+(cat|coffee)\\s+[01]\\.\\d{4}\\s+(yes|no)$`,
      ),
    );
  });

  it("in a terminal, push --wait draws bars and ends with a clean summary", async () => {
    const run = await npxTty(["datasets", "push", folder, "--wait"]);
    assert.equal(run.code, 0, show(run));
    assert.ok(drewBar(run.stdout), `the bar drew:\n${run.stdout}`);
    assert.match(run.stdout, /upload .* 100% /);
    assert.match(run.stdout, /ingest .* 100% \| 20\/20 images/);
    const screen = screenLines(run.stdout);
    const at = screen.findIndex((l) =>
      /^dataset ds_\w+ "cats-coffee" ready: 20 images, 2 classes \(cat, coffee\)$/.test(l),
    );
    assert.ok(at > 0, screen.join("\n"));
    const id = /ds_\w+/.exec(screen[at])![0];
    // What follows the bars is exactly the summary `datasets get` prints.
    const get = await npx(["datasets", "get", id]);
    assert.equal(get.code, 0, show(get));
    assert.deepEqual(screen.slice(at), get.stdout.trimEnd().split("\n"));
    assert.ok(
      screen.slice(at).every((l) => !/[\u2588\u2591]/.test(l)),
      "no bar left in the summary",
    );

    // rm: deleted, then unknown.
    const removed = await npx(["datasets", "rm", id]);
    assert.equal(removed.code, 0, show(removed));
    const gone = await npx(["datasets", "get", id]);
    assert.equal(gone.code, 1, show(gone));
    assert.match(gone.stderr, /error: NOT_FOUND: /);
  });

  it("in a terminal, train --follow draws a live bar and an epoch table, then a clean summary", async () => {
    const run = await npxTty(["train", datasetId, "--epochs", "2", "--batch-size", "8", "--follow"]);
    assert.equal(run.code, 0, show(run));
    assert.ok(drewBar(run.stdout), `the bar drew:\n${run.stdout}`);
    assert.match(
      run.stdout,
      /\d+% \| (queued|running|extracting features|training epoch \d\/2|evaluating|saving)/,
    );
    const screen = screenLines(run.stdout);
    const header = screen.findIndex((l) =>
      /^EPOCH\s+LOSS\s+ACCURACY\s+VAL LOSS\s+VAL ACC\s+SECONDS$/.test(l),
    );
    assert.ok(header >= 0, screen.join("\n"));
    assert.match(screen[header + 1], /^\s+1\s+\d+\.\d{4}\s+\d+\.\d%/);
    const done = screen.findIndex((l) => /^job job_\w+ completed in \S+: model mdl_\w+$/.test(l));
    assert.ok(done > header, screen.join("\n"));
    const tail = screen.slice(done);
    assert.match(tail[1], /^ {2}test accuracy \d+\.\d%, macro F1 \d\.\d{3}; validation accuracy \d+\.\d%$/);
    assert.match(tail.at(-1)!, /^ {2}predict with: transfer predict mdl_\w+ <image\.\.\.>$/);
    assert.ok(
      tail.every((l) => !/[\u2588\u2591]/.test(l)),
      "no bar left in the summary",
    );
  });

  it("models export -o: streams the ONNX file into place (ONNX Runtime loads it), and --format tfjs", async () => {
    const target = path.join(tmp, "m.onnx");
    const run = await npx(["models", "export", modelId, "-o", target, "--json"]);
    assert.equal(run.code, 0, show(run));
    const [line] = lines(run);
    const size = (await stat(target)).size;
    assert.ok(size > 0);
    assert.equal(line.bytes, size);
    assert.equal(line.file, target);
    const session = await ort.InferenceSession.create(await readFile(target));
    assert.equal(session.inputNames.length, 1);
    await session.release();

    const tfjs = path.join(tmp, "m-tfjs.tar.gz");
    const packed = await npx(["models", "export", modelId, "--format", "tfjs", "-o", tfjs, "--json"]);
    assert.equal(packed.code, 0, show(packed));
    assert.equal(lines(packed)[0].format, "tfjs");
    const gz = await readFile(tfjs);
    assert.deepEqual([...gz.subarray(0, 2)], [0x1f, 0x8b], "a gzip file");
    assert.equal(lines(packed)[0].bytes, gz.length);
  });

  it("lists follow nextCursor across pages; --limit stops early", async () => {
    const api = new Api(new URL(url), KEY);
    const all: { id: string }[] = [];
    for await (const m of api.list<{ id: string }>("/v1/jobs", {}, Number.POSITIVE_INFINITY, 1)) all.push(m);
    assert.equal(all.length, 4, "four training jobs (one cancelled), one per page");
    const run = await npx(["jobs", "list", "--json"]);
    assert.equal(run.code, 0, show(run));
    assert.deepEqual(
      lines(run).map((j) => j.id),
      all.map((j) => j.id),
    );
    const one = await npx(["models", "list", "--limit", "1", "--json"]);
    assert.equal(lines(one).length, 1, show(one));
    const cancelled = await npx(["jobs", "list", "--state", "cancelled", "--json"]);
    assert.deepEqual(
      lines(cancelled).map((j) => j.state),
      ["cancelled"],
      "--state filters on the server",
    );
  });

  it("exit codes: 1 with the API's code, 4 when unreachable, 2 for bad usage", async () => {
    const missing = await npx(["models", "get", "mdl_doesnotexist"]);
    assert.equal(missing.code, 1, show(missing));
    assert.match(missing.stderr, /error: NOT_FOUND: model 'mdl_doesnotexist' not found/);

    const json = await npx(["models", "get", "mdl_doesnotexist", "--json"]);
    assert.equal(json.code, 1);
    assert.deepEqual(lines(json), [
      { error: { code: "NOT_FOUND", message: "model 'mdl_doesnotexist' not found", status: 404 } },
    ]);

    const noKey = await npx(["datasets", "list"], { TRANSFER_API_KEY: "" });
    assert.equal(noKey.code, 1, show(noKey));
    assert.match(noKey.stderr, /error: UNAUTHORIZED: /);

    const port = await closedPort();
    const down = await npx(["datasets", "list", "--url", `http://127.0.0.1:${port}`]);
    assert.equal(down.code, 4, show(down));
    assert.match(down.stderr, /error: UNREACHABLE: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);

    for (const args of [
      ["train", datasetId, "--epochs", "many"],
      ["datasets", "frobnicate"],
      ["predict", modelId],
    ]) {
      const bad = await npx(args);
      assert.equal(bad.code, 2, `${args.join(" ")}: ${show(bad)}`);
      assert.match(bad.stderr, /error: USAGE: /);
    }
    const noFile = await npx(["predict", modelId, path.join(tmp, "nope.jpg")]);
    assert.equal(noFile.code, 2, show(noFile));

    // A dataset that cannot be used (one class): ingestion ends failed, exit 3.
    const single = path.join(tmp, "single", "cat");
    await mkdir(single, { recursive: true });
    for (const [i, img] of (await photoVariants("cat", 2, 7)).entries()) {
      await writeFile(path.join(single, `${i}.jpg`), img);
    }
    const failed = await npx(["datasets", "push", path.dirname(single), "--wait", "--json"]);
    assert.equal(failed.code, 3, show(failed));
    const [d] = lines(failed);
    assert.equal(d.state, "failed");
    assert.match(failed.stderr, new RegExp(`error: ${d.error?.code}: `));
  });
});
