import { open } from "node:fs/promises";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import { owned } from "../auth/tenant.js";
import type { Context } from "../context.js";
import { Binary } from "../http/openapi.js";
import { errorResponses, idParams } from "../http/schemas.js";
import { OnnxExporter } from "./export.js";

/**
 * GET /v1/models/:id/export?format=onnx: the model as one self-contained ONNX file (preprocessed image tensor
 * in, backbone and head inside, calibrated probabilities out; classes and preprocessing in its metadata),
 * built once and cached in the model's folder.
 */
export const exportRoute: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  const exporter = new OnnxExporter({
    models: ctx.models,
    registry: ctx.registry,
    warn: (msg, modelId) => ctx.logger.warn({ modelId }, msg),
  });

  app.get(
    "/v1/models/:id/export",
    {
      schema: {
        tags: ["models"],
        operationId: "exportModel",
        summary:
          "Download the model as one ONNX file: preprocessed image tensor in, calibrated probabilities out (output `probabilities`); metadata `classes`, `preprocessing`, `modelId`",
        params: idParams("mdl"),
        querystring: Type.Object({
          format: Type.Enum(["onnx"], { default: "onnx", description: "The file format: onnx" }),
        }),
        response: {
          200: {
            description: "The ONNX model (a serialized ModelProto)",
            content: { "application/octet-stream": { schema: Type.Unsafe<NodeJS.ReadableStream>(Binary) } },
          },
          ...errorResponses(400, 404, 422),
        },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const model = owned(req, await ctx.models.get(id), "model", id);
      // Another process may replace a stale export between the two steps: then the new one is taken.
      const handle = await open(await exporter.file(model), "r").catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
        return open(await exporter.file(model), "r");
      });
      try {
        const { size } = await handle.stat();
        return reply
          .header("content-type", "application/octet-stream")
          .header("content-disposition", `attachment; filename="${model.id}.onnx"`)
          .header("content-length", size)
          .send(handle.createReadStream());
      } catch (err) {
        await handle.close();
        throw err;
      }
    },
  );
};
