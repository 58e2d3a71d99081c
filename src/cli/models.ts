import { randomBytes } from "node:crypto";
import { createWriteStream, rmSync } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Command, Option } from "commander";
import type { ModelManifest } from "../models/schemas.js";
import { CliError, ExitCode, UsageError } from "./errors.js";
import { fixed, formatBytes, formatDuration, type Paint, percent, shortTime, table } from "./format.js";
import { onInterrupt } from "./interrupt.js";
import { addListAndGet, addRemove } from "./resource.js";
import { type Runtime, type RuntimeOf, seg } from "./runtime.js";

/** `transfer models list|get|rm|export`. */
export function registerModels(program: Command, runtimeOf: RuntimeOf): void {
  const models = program.command("models").description("inspect, export and delete trained models");

  addListAndGet<ModelManifest>(models, runtimeOf, {
    plural: "models",
    path: "/v1/models",
    idName: "modelId",
    getDescription: "show a model: classes, metrics per class, calibration, unknown rule",
    columns: [
      { header: "ID" },
      { header: "DATASET" },
      { header: "BACKBONE" },
      { header: "CLASSES", right: true },
      { header: "ACCURACY", right: true },
      { header: "ON" },
      { header: "CREATED" },
    ],
    row: (m) => [
      m.id,
      m.datasetId,
      m.backbone,
      String(m.classes.length),
      percent(m.metrics?.accuracy),
      m.metrics?.split ?? "-",
      shortTime(m.createdAt),
    ],
    summary: modelSummary,
  });
  addRemove(models, runtimeOf, {
    noun: "model",
    path: "/v1/models",
    idName: "modelId",
    description: "delete a model",
  });

  models
    .command("export")
    .description(
      "download the model as one self-contained ONNX file (backbone, head and calibration inside), or as a TF.js layers model (.tar.gz)",
    )
    .argument("<modelId>")
    .addOption(new Option("--format <format>", "file format").choices(["onnx", "tfjs"]).default("onnx"))
    .option("-o, --output <file>", "where to write it (default: <modelId>.onnx, <modelId>-tfjs.tar.gz)")
    .action(async (id: string, opts: { output?: string; format: ExportFormat }, cmd: Command) => {
      const output = opts.output ?? (opts.format === "tfjs" ? `${id}-tfjs.tar.gz` : `${id}.onnx`);
      await exportModel(runtimeOf(cmd), id, output, opts.format);
    });
}

type ExportFormat = "onnx" | "tfjs";

/** Streams the export to a temporary file beside `output`, renamed into place once complete. */
async function exportModel(
  { api, out }: Runtime,
  id: string,
  output: string,
  format: ExportFormat,
): Promise<void> {
  const target = path.resolve(output);
  const dir = await stat(path.dirname(target)).catch(() => undefined);
  if (!dir?.isDirectory())
    throw new UsageError(`-o ${output}: folder ${path.dirname(target)} does not exist`);
  const res = await api.request("GET", `/v1/models/${seg(id)}/export`, { query: { format } });
  if (!res.body) throw new CliError(ExitCode.refused, "EMPTY_EXPORT", "the server sent no file");
  const length = Number(res.headers.get("content-length"));
  const known = Number.isFinite(length) && length > 0 ? length : undefined;
  const temp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${randomBytes(4).toString("hex")}.part`,
  );
  const release = onInterrupt(() => {
    rmSync(temp, { force: true });
    return { message: `export interrupted; ${output} was not written` };
  });
  const bar = known
    ? out.bar<object>(
        (v) => {
          const rate = v.elapsed > 0 ? v.value / v.elapsed : 0;
          const eta = rate > 0 ? (v.total - v.value) / rate : undefined;
          return `export  ${v.bar} ${Math.round(v.fraction * 100)}% | ${formatBytes(v.value)} / ${formatBytes(v.total)} | ETA ${formatDuration(eta)}`;
        },
        known,
        {},
      )
    : undefined;
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      bar?.update(bytes);
      done(null, chunk);
    },
  });
  try {
    await api.read(() =>
      pipeline(
        Readable.fromWeb(res.body as import("node:stream/web").ReadableStream),
        count,
        createWriteStream(temp),
      ),
    );
    if (known !== undefined && bytes !== known) {
      throw new CliError(
        ExitCode.unreachable,
        "UNREACHABLE",
        `the download ended after ${bytes} of ${known} bytes`,
      );
    }
    await rename(temp, target);
  } catch (err) {
    bar?.stop();
    await rm(temp, { force: true });
    throw err;
  } finally {
    release();
  }
  bar?.finish();
  out.record({ id, file: target, bytes, format });
  const what = format === "tfjs" ? "TF.js layers model, gzipped tar" : "ONNX";
  out.print(`saved model ${out.paint.bold(id)} to ${output} (${formatBytes(bytes)}, ${what})`);
}

/** A model in a few lines: what it knows, how well, and how it says "unknown". */
export function modelSummary(m: ModelManifest, p: Paint): string[] {
  const lines = [
    `model ${p.bold(m.id)}: ${m.classes.length} classes (${m.classes.join(", ")}), backbone ${m.backbone}`,
    `  dataset ${m.datasetId}, job ${m.jobId}, created ${shortTime(m.createdAt)}`,
  ];
  const x = m.metrics;
  if (x) {
    const extra = [
      x.macroF1 === undefined ? "" : `macro F1 ${x.macroF1.toFixed(3)}`,
      `loss ${fixed(x.loss)}`,
      x.ece === undefined ? "" : `ECE ${fixed(x.ece, 3)}`,
    ].filter(Boolean);
    lines.push(`  ${x.split ?? "evaluation"} accuracy ${p.bold(percent(x.accuracy))} (${extra.join(", ")})`);
    if (m.validationMetrics) lines.push(`  validation accuracy ${percent(m.validationMetrics.accuracy)}`);
    const rows = Object.entries(x.perClass ?? {}).map(([cls, c]) => [
      cls,
      c.precision.toFixed(3),
      c.recall.toFixed(3),
      c.f1.toFixed(3),
      String(c.support),
    ]);
    if (rows.length > 0) {
      lines.push(
        ...table(
          [
            { header: "CLASS" },
            { header: "PRECISION", right: true },
            { header: "RECALL", right: true },
            { header: "F1", right: true },
            { header: "SUPPORT", right: true },
          ],
          rows,
          p,
        ).map((l) => `  ${l}`),
      );
    }
  }
  if (m.calibration) {
    lines.push(
      `  calibration: temperature ${m.calibration.temperature.toFixed(3)}, ` +
        `ECE ${m.calibration.eceBefore.toFixed(3)} -> ${m.calibration.eceAfter.toFixed(3)} (validation)`,
    );
  }
  if (m.openSet) {
    lines.push(
      `  unknown: ${m.openSet.method}, rejects ${percent(m.openSet.validationRejectRate)} of validation images`,
    );
  }
  return lines;
}
