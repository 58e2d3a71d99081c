import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { glob, isDynamicPattern } from "tinyglobby";
import { imageMediaType } from "../lib/media-types.js";
import type { ModelManifest, Prediction } from "../models/schemas.js";
import { ApiError, PartialFailure, UsageError } from "./errors.js";
import { type Column, row } from "./format.js";
import { intArg, type Runtime, type RuntimeOf, seg } from "./runtime.js";

/** Images per predict request (the server takes up to 64). */
const DEFAULT_CHUNK = 16;

interface Result {
  predictions: Prediction[];
  unknown?: boolean;
}

/** The outcome for one file: its predictions, or why it failed. */
type Outcome = { file: string } & ({ result: Result } | { error: { code: string; message: string } });

/** `transfer predict <modelId> <image...>`. */
export function registerPredict(program: Command, runtimeOf: RuntimeOf): void {
  program
    .command("predict")
    .description("classify images with a model; prints one row per image")
    .addHelpText(
      "after",
      "\nImages are files or glob patterns; quote a pattern for transfer to expand it ('photos/**/*.jpg').\n" +
        "They are sent in multipart requests of --chunk images. An image the server cannot read is\n" +
        "reported and the others still print; the exit code is then 1.",
    )
    .argument("<modelId>")
    .argument("<image...>", "image files or glob patterns")
    .option("--top-k <n>", "predictions per image", intArg(1, 1000), 1)
    .option("--chunk <n>", "images per request", intArg(1, 64), DEFAULT_CHUNK)
    .action(
      async (modelId: string, images: string[], opts: { topK: number; chunk: number }, cmd: Command) => {
        await predict(runtimeOf(cmd), modelId, images, opts);
      },
    );
}

/** The files named by the arguments: existing files as they are, patterns expanded (sorted), no repeats. */
export async function expandImages(args: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const arg of args) {
    const info = await stat(arg).catch(() => undefined);
    if (info?.isFile()) {
      files.push(arg);
    } else if (info?.isDirectory()) {
      throw new UsageError(`${arg} is a folder: name its images, e.g. '${path.join(arg, "*.jpg")}'`);
    } else if (isDynamicPattern(arg)) {
      const found = (
        await glob(arg, { onlyFiles: true, expandDirectories: false, absolute: path.isAbsolute(arg) })
      ).sort();
      if (found.length === 0) throw new UsageError(`no file matches ${arg}`);
      files.push(...found);
    } else {
      throw new UsageError(`no such file: ${arg}`);
    }
  }
  return [...new Set(files)];
}

async function predict(
  { api, out }: Runtime,
  modelId: string,
  args: string[],
  opts: { topK: number; chunk: number },
): Promise<void> {
  const files = await expandImages(args);
  // The model first: an unknown id fails before any image is read, and its classes size the table.
  const model = await api.get<ModelManifest>(`/v1/models/${seg(modelId)}`);
  const columns: Column[] = [
    { header: "FILE" },
    { header: "LABEL" },
    { header: "PROBABILITY", right: true },
    { header: "UNKNOWN" },
    ...(opts.topK > 1 ? [{ header: "NEXT" }] : []),
  ];
  const widths = [
    Math.max(4, ...files.map((f) => f.length)),
    Math.max(5, ...model.classes.map((c) => c.length)),
    11,
    7,
    0,
  ];
  let headerShown = false;
  const bar =
    files.length > opts.chunk
      ? out.bar<object>((v) => `predict ${v.bar} ${v.value}/${v.total} images`, files.length, {})
      : undefined;
  let done = 0;
  let failed = 0;
  const show = (o: Outcome) => {
    done++;
    if ("error" in o) {
      failed++;
      out.record({ file: o.file, error: o.error });
      out.error(o.error.code, `${o.file}: ${o.error.message}`, {}, false);
    } else {
      const top = o.result.predictions[0];
      out.record({
        file: o.file,
        label: top?.label,
        probability: top?.probability,
        unknown: o.result.unknown,
        predictions: o.result.predictions,
      });
      const lines: string[] = [];
      if (!headerShown) {
        headerShown = true;
        lines.push(
          out.paint.bold(
            row(
              columns.map((c) => c.header),
              widths,
              columns,
            ),
          ),
        );
      }
      const unknown =
        o.result.unknown === undefined ? "-" : o.result.unknown ? out.paint.yellow("yes") : "no";
      const next = o.result.predictions
        .slice(1)
        .map((p) => `${p.label} ${p.probability.toFixed(3)}`)
        .join(", ");
      const cells = [o.file, top?.label ?? "-", top ? top.probability.toFixed(4) : "-", unknown];
      if (opts.topK > 1) cells.push(next);
      lines.push(row(cells, widths, columns));
      out.print(...lines);
    }
    bar?.update(done);
  };
  try {
    for (let i = 0; i < files.length; i += opts.chunk) {
      for (const o of await predictChunk(api, modelId, files.slice(i, i + opts.chunk), opts.topK)) show(o);
    }
  } catch (err) {
    bar?.stop();
    throw err;
  }
  bar?.finish();
  if (failed > 0) {
    const failure = new PartialFailure(`${failed} of ${files.length} images could not be classified`);
    failure.recorded = true;
    throw failure;
  }
}

/**
 * Classifies `files` in one multipart request; when the server refuses the request for one of its images
 * (400, or 413 for their size together), each image is sent alone so that only the bad ones fail.
 */
async function predictChunk(
  api: Runtime["api"],
  modelId: string,
  files: string[],
  topK: number,
): Promise<Outcome[]> {
  const form = new FormData();
  const readable: string[] = [];
  const unreadable = new Map<string, Outcome>();
  for (const file of files) {
    try {
      const type = imageMediaType(file);
      form.append("image", new Blob([await readFile(file)], { type }), path.basename(file));
      readable.push(file);
    } catch (err) {
      unreadable.set(file, { file, error: { code: "READ_FAILED", message: (err as Error).message } });
    }
  }
  const answered = new Map<string, Outcome>(unreadable);
  if (readable.length > 0) {
    try {
      const { results } = await api.json<{ results: Result[] }>(
        "POST",
        `/v1/models/${seg(modelId)}/predict`,
        form,
        {
          topK,
        },
      );
      readable.forEach((file, i) => {
        answered.set(file, { file, result: results[i] });
      });
    } catch (err) {
      const perImage = err instanceof ApiError && (err.status === 400 || err.status === 413);
      if (!perImage) throw err;
      if (readable.length === 1) {
        // Sent alone, the server's "image 1: " adds nothing to the file name.
        const message = err.message.replace(/^image 1: /, "");
        answered.set(readable[0], { file: readable[0], error: { code: err.code, message } });
      } else {
        for (const file of readable) {
          for (const o of await predictChunk(api, modelId, [file], topK)) answered.set(file, o);
        }
      }
    }
  }
  return files.map((f) => answered.get(f)!);
}
