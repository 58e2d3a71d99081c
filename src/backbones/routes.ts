import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { Context } from "../context.js";
import { PageOf } from "../http/pagination.js";

const BackboneSchema = Type.Object(
  {
    id: Type.String(),
    format: Type.Enum(["onnx", "tfjs-layers", "tfjs-graph"]),
    inputSize: Type.Integer(),
    featureDim: Type.Integer(),
    runtime: Type.String(),
    default: Type.Boolean(),
    description: Type.Optional(Type.String()),
  },
  { title: "Backbone" },
);

/** GET /v1/backbones. */
export const backboneRoutes: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  app.get(
    "/v1/backbones",
    {
      schema: {
        tags: ["backbones"],
        operationId: "listBackbones",
        summary: "Every backbone (one page: nextCursor is always null)",
        response: { 200: PageOf(BackboneSchema, "BackbonePage") },
      },
    },
    async () => ({ items: await ctx.registry.list(), nextCursor: null }),
  );
};
