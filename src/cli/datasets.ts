import type { Command } from "commander";
import type { Dataset, DatasetListItem } from "../datasets/schemas.js";
import { sleep } from "./api.js";
import { EndedError } from "./errors.js";
import { formatBytes, formatDuration, type Paint, paintState, plural, shortTime } from "./format.js";
import { onInterrupt } from "./interrupt.js";
import { addListAndGet, addRemove } from "./resource.js";
import { type Runtime, type RuntimeOf, seg } from "./runtime.js";
import { multipartBody, uploadSource } from "./upload.js";

/** How often `--wait` asks for the dataset's state. */
const POLL_MS = 500;

/** `transfer datasets push|list|get|rm`. */
export function registerDatasets(program: Command, runtimeOf: RuntimeOf): void {
  const datasets = program.command("datasets").description("upload and manage datasets");

  datasets
    .command("push")
    .description("upload a folder (packed as a tar on the fly) or a .zip/.tar/.tar.gz/.tgz archive")
    .addHelpText(
      "after",
      "\nLayout: <class>/<image>, or train/<class>/<image> with optional val/ and test/ beside it\n" +
        "(one wrapping folder is allowed). Hidden files and __MACOSX/ are left out of a packed folder.",
    )
    .argument("<path>", "folder or archive")
    .option("--name <name>", "dataset name (default: the folder or archive name)")
    .option("--wait", "wait until ingestion ends, with a progress bar, then print a summary")
    .action(async (target: string, opts: { name?: string; wait?: boolean }, cmd: Command) => {
      await push(runtimeOf(cmd), target, opts);
    });

  addListAndGet<Dataset, DatasetListItem>(datasets, runtimeOf, {
    plural: "datasets",
    path: "/v1/datasets",
    idName: "datasetId",
    getDescription: "show a dataset: state, classes, splits, rejected files",
    columns: [
      { header: "ID" },
      { header: "NAME" },
      { header: "STATE" },
      { header: "IMAGES", right: true },
      { header: "CLASSES", right: true },
      { header: "CREATED" },
    ],
    row: (d, paint) => [
      d.id,
      d.name,
      paintState(paint, d.state),
      String(imagesOf(d)),
      String(d.classes.length),
      shortTime(d.createdAt),
    ],
    summary: datasetSummary,
  });
  addRemove(datasets, runtimeOf, {
    noun: "dataset",
    path: "/v1/datasets",
    idName: "datasetId",
    description: "delete a dataset and its files (refused while a job needs it)",
  });
}

/** Total images of a dataset over its splits. */
function imagesOf(d: Pick<Dataset, "splits">): number {
  return Object.values(d.splits ?? {}).reduce((n, s) => n + (s?.images ?? 0), 0);
}

/** Uploads, then (with `wait`) follows ingestion to its end. */
async function push({ api, out }: Runtime, target: string, opts: { name?: string; wait?: boolean }) {
  const source = await uploadSource(target);
  const label = source.files === undefined ? source.fileName : `${plural(source.files, "file")} as a tar`;
  out.info(
    `uploading ${target} (${label}, ${source.size === undefined ? "~" : ""}${formatBytes(source.estimate)})`,
  );
  let sent = 0;
  const bar = out.bar<{ total: number }>(
    (v) => {
      const rate = v.elapsed > 0 ? v.value / v.elapsed : 0;
      const eta = rate > 0 ? Math.max(0, v.total - v.value) / rate : undefined;
      return (
        `upload  ${v.bar} ${Math.round(v.fraction * 100)}% | ${formatBytes(v.value)} / ` +
        `${formatBytes(v.total)} | ${formatBytes(rate)}/s | ETA ${formatDuration(eta)}`
      );
    },
    source.estimate,
    { total: source.estimate },
  );
  const release = onInterrupt(() => ({ message: "upload interrupted" }));
  const multipart = multipartBody({ name: opts.name }, "file", source, (n) => {
    sent += n;
    // The tar is only estimated: a bigger one moves the end of the bar.
    bar?.update(sent, Math.max(source.estimate, sent));
  });
  let dataset: Dataset;
  try {
    const res = await api
      .request("POST", "/v1/datasets", {
        body: multipart.body,
        duplex: "half",
        headers: {
          "content-type": multipart.contentType,
          ...(multipart.length === undefined ? {} : { "content-length": String(multipart.length) }),
        },
      })
      .catch((err) => {
        throw multipart.readError() ?? err;
      });
    dataset = await api.read(() => res.json() as Promise<Dataset>);
  } catch (err) {
    bar?.stop();
    throw err;
  } finally {
    release();
  }
  // The bar ends on the bytes really sent (the tar's size was an estimate).
  bar?.update(sent, sent);
  bar?.finish();
  if (!opts.wait) {
    out.record(dataset);
    out.print(
      `dataset ${out.paint.bold(dataset.id)} uploaded (${formatBytes(sent)}): ${paintState(out.paint, dataset.state)}`,
      out.paint.dim(`check it with: transfer datasets get ${dataset.id}`),
    );
    return;
  }
  const final = await waitForDataset({ api, out } as Runtime, dataset);
  out.record(final);
  out.print(...datasetSummary(final, out.paint));
  if (final.state === "failed") {
    throw new EndedError(final.error?.code ?? "DATASET_FAILED", final.error?.message ?? "ingestion failed");
  }
}

/** Polls a dataset until it is ready or failed, with an ingestion bar. */
async function waitForDataset({ api, out }: Runtime, first: Dataset): Promise<Dataset> {
  const release = onInterrupt(() => ({
    message: `dataset ${first.id} is still ingesting; check it with: transfer datasets get ${first.id}`,
    details: { datasetId: first.id },
  }));
  type Payload = { done: number; files: number; rate: number };
  const bar = out.bar<Payload>(
    (v) =>
      `ingest  ${v.bar} ${Math.round(v.fraction * 100)}% | ${v.payload.done}/${v.payload.files} images | ` +
      `${Math.round(v.payload.rate)} img/s`,
    100,
    { done: 0, files: 0, rate: 0 },
  );
  try {
    let d = first;
    for (;;) {
      const p = d.progress;
      if (p)
        bar?.update(Math.min(100, p.percent), undefined, {
          done: p.done,
          files: p.files,
          rate: p.imagesPerSec,
        });
      if (d.state !== "ingesting") break;
      await sleep(POLL_MS);
      d = await api.get<Dataset>(`/v1/datasets/${seg(first.id)}`);
    }
    if (d.state === "ready")
      bar?.finish({ done: d.progress?.done ?? imagesOf(d), files: d.progress?.files ?? 0 });
    else bar?.stop();
    return d;
  } catch (err) {
    bar?.stop();
    throw err;
  } finally {
    release();
  }
}

/** A dataset in a few lines: state, images and classes, splits, what was left out. */
export function datasetSummary(d: Dataset, p: Paint): string[] {
  const name = d.name ? ` "${d.name}"` : "";
  if (d.state === "failed") {
    return [
      `dataset ${p.bold(d.id)}${name} ${p.red("failed")}: ${d.error?.code ?? "FAILED"}: ${d.error?.message ?? ""}`,
    ];
  }
  if (d.state === "ingesting") {
    const pr = d.progress;
    const at = pr ? `: ${pr.done} images checked, ${pr.percent.toFixed(0)}% of the archive read` : "";
    return [`dataset ${p.bold(d.id)}${name} is ${paintState(p, "ingesting")}${at}`];
  }
  const splits = (["train", "val", "test"] as const)
    .filter((s) => d.splits?.[s])
    .map((s) => `${s} ${d.splits[s]?.images}`)
    .join(", ");
  const lines = [
    `dataset ${p.bold(d.id)}${name} ${paintState(p, d.state)}: ${plural(imagesOf(d), "image")}, ` +
      `${plural(d.classes.length, "class", "classes")} (${d.classes.join(", ")})`,
    `  splits: ${splits}`,
  ];
  const perClass = d.splits?.train?.perClass;
  if (perClass)
    lines.push(
      `  train per class: ${Object.entries(perClass)
        .map(([c, n]) => `${c} ${n}`)
        .join(", ")}`,
    );
  const notes: string[] = [];
  if (d.rejectedCount > 0) notes.push(`${plural(d.rejectedCount, "file")} rejected`);
  const s = d.summary;
  if (s) {
    if (s.exactDuplicates + s.nearDuplicates > 0)
      notes.push(`${s.exactDuplicates} exact and ${s.nearDuplicates} near duplicates`);
    if (s.leaks > 0) notes.push(`${plural(s.leaks, "leak")} into val/test`);
    if (s.conflicts > 0) notes.push(`${plural(s.conflicts, "label conflict")}`);
  }
  if (notes.length > 0)
    lines.push(`  ${p.yellow("note:")} ${notes.join("; ")} (see GET /v1/datasets/${d.id}/report)`);
  return lines;
}
