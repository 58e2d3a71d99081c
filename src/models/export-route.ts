import { open } from "node:fs/promises";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import { owned } from "../auth/tenant.js";
import type { Context } from "../context.js";
import { Binary } from "../http/openapi.js";
import { errorResponses, idParams } from "../http/schemas.js";
import { OnnxExporter } from "./export.js";
import { TfjsExporter } from "./export-tfjs.js";

/**
 * GET /v1/models/:id/export?format=onnx|tfjs: the model as one self-contained ONNX file, or a `.tar.gz` of one
 * TF.js layers model (`model.json` + `weights.bin`): preprocessed image tensor in, backbone and head inside,
 * calibrated probabilities out; classes and preprocessing in its metadata. Built once and cached in the
 * model's folder.
 */
export const exportRoute: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  const options = {
    models: ctx.models,
    registry: ctx.registry,
    warn: (msg: string, modelId: string) => ctx.logger.warn({ modelId }, msg),
  };
  const exporter = new OnnxExporter(options);
  const tfjsExporter = new TfjsExporter(options);
  const formats = {
    onnx: { exporter, type: "application/octet-stream", suffix: ".onnx" },
    tfjs: { exporter: tfjsExporter, type: "application/gzip", suffix: "-tfjs.tar.gz" },
  };

  app.get(
    "/v1/models/:id/export",
    {
      schema: {
        tags: ["models"],
        operationId: "exportModel",
        summary:
          "Download the model as one ONNX file (format=onnx) or as a .tar.gz of one TF.js layers model, model.json + weights.bin (format=tfjs, tfjs-layers backbones only; int8 backbones export their float weights): preprocessed image tensor in, calibrated probabilities out (output `probabilities`); metadata `classes`, `preprocessing`, `modelId` (ONNX metadata_props, TF.js userDefinedMetadata)",
        params: idParams("mdl"),
        querystring: Type.Object({
          format: Type.Enum(["onnx", "tfjs"], {
            default: "onnx",
            description: "The file format: onnx, or tfjs (a .tar.gz of a TF.js layers model)",
          }),
        }),
        response: {
          200: {
            description:
              "format=onnx: the ONNX model (a serialized ModelProto), application/octet-stream; format=tfjs: a gzipped tar of the TF.js layers model (model.json with userDefinedMetadata, weights.bin), application/gzip",
            content: {
              "application/octet-stream": { schema: Type.Unsafe<NodeJS.ReadableStream>(Binary) },
              "application/gzip": { schema: Type.Unsafe<NodeJS.ReadableStream>(Binary) },
            },
          },
          ...errorResponses(400, 404, 422),
        },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const format = formats[req.query.format];
      const model = owned(req, await ctx.models.get(id), "model", id);
      // Another process may replace a stale export between the two steps: then the new one is taken.
      const handle = await open(await format.exporter.file(model), "r").catch(
        async (err: NodeJS.ErrnoException) => {
          if (err.code !== "ENOENT") throw err;
          return open(await format.exporter.file(model), "r");
        },
      );
      try {
        const { size } = await handle.stat();
        return reply
          .header("content-type", format.type)
          .header("content-disposition", `attachment; filename="${model.id}${format.suffix}"`)
          .header("content-length", size)
          .send(handle.createReadStream());
      } catch (err) {
        await handle.close();
        throw err;
      }
    },
  );
};
