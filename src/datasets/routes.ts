import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import Type from "typebox";
import { assertDatasetQuota } from "../auth/quotas.js";
import { callerTenant, ownedOnly } from "../auth/tenant.js";
import type { Context } from "../context.js";
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from "../errors.js";
import { Binary } from "../http/openapi.js";
import { PageOf, PageQuery, paginate } from "../http/pagination.js";
import { errorResponses, idParams } from "../http/schemas.js";
import { enqueueIngest } from "../jobs/service.js";
import { assertRoomFor } from "../lib/disk.js";
import { IMAGE_MEDIA_TYPES, imageMediaType } from "../lib/media-types.js";
import type { Queues } from "../queues.js";
import { sniffFormat } from "./archive.js";
import { isImagePath } from "./layout.js";
import { datasetOf } from "./owned.js";
import { DatasetReportSchema } from "./report.js";
import { DatasetListItemSchema, DatasetSchema } from "./schemas.js";

/** Disk an upload needs while it is ingested, per byte of archive: the archive itself and the image pack. */
const UPLOAD_SPACE_FACTOR = 2;

/** The datasets API: upload (multipart archive, ingested on the queue), list, get, report, images, delete. */
export const datasetRoutes: FastifyPluginAsyncTypebox<{ ctx: Context; queues: Queues }> = async (
  app,
  { ctx, queues },
) => {
  const { config, datasets, paths } = ctx;

  app.post(
    "/v1/datasets",
    {
      schema: {
        tags: ["datasets"],
        operationId: "createDataset",
        summary:
          "Upload a dataset archive (.zip, .tar, .tar.gz, .tgz) as multipart field `file`, optional field `name`; " +
          "it is ingested on the queue (state `ingesting`, then `ready` or `failed`)",
        consumes: ["multipart/form-data"],
        documentedBody: {
          content: {
            "multipart/form-data": {
              schema: {
                title: "DatasetUpload",
                type: "object",
                required: ["file"],
                properties: {
                  file: { ...Binary, description: "The archive: .zip, .tar, .tar.gz or .tgz" },
                  name: { type: "string", maxLength: 200, description: "Default: the archive's file name" },
                },
              },
            },
          },
        },
        response: { 202: DatasetSchema, ...errorResponses(400, 403, 413, 415, 503, 507) },
      },
    },
    async (req, reply) => {
      if (!req.isMultipart()) {
        throw new UnsupportedMediaTypeError(
          "upload the archive as multipart/form-data with a field named 'file'",
        );
      }
      await mkdir(paths.uploads, { recursive: true });
      const declared = Number(req.headers["content-length"]) || 0;
      const tenant = callerTenant(req);
      await assertDatasetQuota(ctx, tenant, declared);
      await assertRoomFor(paths.uploads, UPLOAD_SPACE_FACTOR * declared, config.MIN_FREE_DISK_MB * 1024 ** 2);
      const upload = path.join(paths.uploads, `${randomUUID()}.upload`);
      try {
        const { fileName, name } = await receiveUpload(req, upload, config.MAX_UPLOAD_BYTES).catch((err) => {
          // The rest of the body is never read: close the connection after the answer.
          reply.header("connection", "close");
          throw err;
        });
        await sniffFormat(upload);
        await assertDatasetQuota(ctx, tenant, (await stat(upload)).size);
        const dataset = await datasets.create(upload, name || stripArchiveExt(fileName) || "dataset", tenant);
        try {
          await enqueueIngest(queues, dataset.id);
        } catch (err) {
          await datasets.delete(dataset.id).catch(() => undefined);
          throw err;
        }
        req.log.info({ datasetId: dataset.id }, "dataset uploaded, ingestion queued");
        return reply.status(202).header("location", `/v1/datasets/${dataset.id}`).send(dataset);
      } finally {
        await rm(upload, { force: true });
      }
    },
  );

  app.get(
    "/v1/datasets",
    {
      schema: {
        tags: ["datasets"],
        operationId: "listDatasets",
        summary: "List datasets, newest first",
        querystring: PageQuery,
        response: { 200: PageOf(DatasetListItemSchema, "DatasetPage"), ...errorResponses(400) },
      },
    },
    async (req) => paginate(ownedOnly(req, await datasets.list()), req.query.limit, req.query.cursor),
  );

  app.get(
    "/v1/datasets/:id",
    {
      schema: {
        tags: ["datasets"],
        operationId: "getDataset",
        summary: "Get a dataset: state, ingestion progress, classes, splits, report summary",
        params: idParams("ds"),
        response: { 200: DatasetSchema, ...errorResponses(404) },
      },
    },
    (req) => datasetOf(ctx, req, req.params.id),
  );

  app.get(
    "/v1/datasets/:id/report",
    {
      schema: {
        tags: ["datasets"],
        operationId: "getDatasetReport",
        summary: "Duplicates, near duplicates, leaks, conflicts, imbalance and rejected files",
        params: idParams("ds"),
        response: { 200: DatasetReportSchema, ...errorResponses(404, 409) },
      },
    },
    async (req) => {
      const dataset = await datasetOf(ctx, req, req.params.id);
      if (dataset.state !== "ready") {
        throw new ConflictError(
          `dataset '${dataset.id}' is ${dataset.state}: no report`,
          "DATASET_NOT_READY",
        );
      }
      const report = await datasets.report(dataset.id);
      if (!report) throw new NotFoundError("report of dataset", dataset.id);
      return report;
    },
  );

  app.get(
    "/v1/datasets/:id/images/*",
    {
      schema: {
        tags: ["datasets"],
        operationId: "getDatasetImage",
        summary: "One image of a ready dataset, by its path in the archive",
        produces: Object.values(IMAGE_MEDIA_TYPES).filter((t, i, all) => all.indexOf(t) === i),
        params: Type.Object({
          id: idParams("ds").properties.id,
          "*": Type.String({ minLength: 1, maxLength: 1024 }),
        }),
        response: { 200: Type.Unsafe({ type: "string", format: "binary" }), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const rel = req.params["*"];
      await datasetOf(ctx, req, req.params.id);
      const found = isImagePath(rel)
        ? await datasets.image(req.params.id, rel).catch(() => undefined)
        : undefined;
      if (!found) throw new NotFoundError("image", rel);
      const { file, start, end } = found;
      const exists = await stat(file).catch(() => undefined);
      if (!exists?.isFile() || (end !== undefined && end >= exists.size))
        throw new NotFoundError("image", rel);
      return reply
        .header("content-type", imageMediaType(rel))
        .header("cache-control", "private, max-age=3600")
        .send(createReadStream(file, { start, end }));
    },
  );

  app.delete(
    "/v1/datasets/:id",
    {
      schema: {
        tags: ["datasets"],
        operationId: "deleteDataset",
        summary: "Delete a dataset and its files (409 while a job needs it)",
        params: idParams("ds"),
        response: { 204: Type.Null(), ...errorResponses(404, 409) },
      },
    },
    async (req, reply) => {
      const dataset = await datasetOf(ctx, req, req.params.id);
      if (dataset.state === "ingesting") {
        throw new ConflictError(`dataset '${dataset.id}' is being ingested`, "DATASET_IN_USE");
      }
      const users = await ctx.jobs.activeOn(dataset.id);
      if (users.length > 0) {
        throw new ConflictError(
          `dataset '${dataset.id}' is needed by ${users.length === 1 ? "job" : "jobs"} ${users.join(", ")}`,
          "DATASET_IN_USE",
        );
      }
      await datasets.delete(dataset.id);
      return reply.status(204).send(null);
    },
  );
};

/** Streams the multipart `file` field to `target`; returns its file name and the `name` field. */
async function receiveUpload(
  req: FastifyRequest,
  target: string,
  maxBytes: number,
): Promise<{ fileName: string; name?: string }> {
  let name: string | undefined;
  let fileName: string | undefined;
  for await (const part of req.parts({ limits: { fileSize: maxBytes, files: 1, fields: 10 } })) {
    if (part.type === "file") {
      if (part.fieldname !== "file")
        throw new BadRequestError(`unexpected file field '${part.fieldname}', expected 'file'`);
      fileName = part.filename;
      await pipeline(part.file, createWriteStream(target));
      if (part.file.truncated)
        throw new PayloadTooLargeError(`upload exceeds the limit of ${maxBytes} bytes`);
    } else if (part.fieldname === "name") {
      name = String(part.value).trim().slice(0, 200);
    }
  }
  if (fileName === undefined)
    throw new BadRequestError("missing multipart field 'file' with the archive", "MISSING_FILE");
  return { fileName, name };
}

function stripArchiveExt(file: string): string {
  return path.basename(file).replace(/\.(zip|tar|tar\.gz|tgz)$/i, "");
}
