import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { Context } from "../context.js";
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from "../errors.js";
import { errorResponses, IdParams } from "../http/schemas.js";
import { DatasetSchema } from "./schemas.js";

/** The datasets API: upload (multipart archive), list, get, delete. */
export const datasetRoutes: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  const { config, datasets, paths } = ctx;

  app.post(
    "/v1/datasets",
    {
      schema: {
        tags: ["datasets"],
        summary:
          "Upload a dataset archive (.zip, .tar, .tar.gz, .tgz) as multipart field `file`, optional field `name`",
        consumes: ["multipart/form-data"],
        response: { 201: DatasetSchema, ...errorResponses(400, 413, 415) },
      },
    },
    async (req, reply) => {
      if (!req.isMultipart()) {
        throw new UnsupportedMediaTypeError(
          "upload the archive as multipart/form-data with a field named 'file'",
        );
      }
      await mkdir(paths.uploads, { recursive: true });
      const upload = path.join(paths.uploads, `${randomUUID()}.upload`);
      let name: string | undefined;
      let fileName: string | undefined;
      try {
        for await (const part of req.parts({
          limits: { fileSize: config.MAX_UPLOAD_BYTES, files: 1, fields: 10 },
        })) {
          if (part.type === "file") {
            if (part.fieldname !== "file")
              throw new BadRequestError(`unexpected file field '${part.fieldname}', expected 'file'`);
            fileName = part.filename;
            await pipeline(part.file, createWriteStream(upload));
            if (part.file.truncated) {
              throw new PayloadTooLargeError(`upload exceeds the limit of ${config.MAX_UPLOAD_BYTES} bytes`);
            }
          } else if (part.fieldname === "name") {
            name = String(part.value).trim().slice(0, 200);
          }
        }
        if (fileName === undefined)
          throw new BadRequestError("missing multipart field 'file' with the archive", "MISSING_FILE");
        const datasetName = name || stripArchiveExt(fileName) || "dataset";
        const dataset = await datasets.createFromArchive(upload, datasetName, {
          maxFiles: config.MAX_ARCHIVE_FILES,
          maxUnpackedBytes: config.MAX_UNPACKED_BYTES,
          maxImagePixels: config.MAX_IMAGE_PIXELS,
        });
        req.log.info(
          { datasetId: dataset.id, images: dataset.splits.train.images, rejected: dataset.rejected.length },
          "dataset created",
        );
        return reply.status(201).header("location", `/v1/datasets/${dataset.id}`).send(dataset);
      } finally {
        await rm(upload, { force: true });
      }
    },
  );

  app.get(
    "/v1/datasets",
    { schema: { tags: ["datasets"], response: { 200: Type.Array(DatasetSchema) } } },
    () => datasets.list(),
  );

  app.get(
    "/v1/datasets/:id",
    {
      schema: {
        tags: ["datasets"],
        params: IdParams,
        response: { 200: DatasetSchema, ...errorResponses(404) },
      },
    },
    (req) => datasets.get(req.params.id),
  );

  app.delete(
    "/v1/datasets/:id",
    {
      schema: {
        tags: ["datasets"],
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await datasets.delete(req.params.id);
      return reply.status(204).send(null);
    },
  );
};

function stripArchiveExt(file: string): string {
  return path.basename(file).replace(/\.(zip|tar|tar\.gz|tgz)$/i, "");
}
