import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import { owned } from "../auth/tenant.js";
import type { Context } from "../context.js";
import { BadRequestError } from "../errors.js";
import { errorResponses, idParams } from "../http/schemas.js";

const MisclassifiedSchema = Type.Object(
  {
    path: Type.String({ description: "The image's path in the dataset" }),
    trueLabel: Type.String(),
    predicted: Type.String(),
    probability: Type.Number({ description: "The (calibrated) probability of the wrong prediction" }),
    imageUrl: Type.String({ description: "GET it for the image (with the same key)" }),
  },
  { title: "MisclassifiedImage" },
);

/** Offsets travel as opaque cursors, like the other lists' cursors. */
function encodeOffset(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString("base64url");
}

function decodeOffset(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const m = /^offset:(\d{1,9})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m)
    throw new BadRequestError("invalid cursor: pass the nextCursor of a previous page", "INVALID_CURSOR");
  return Number(m[1]);
}

/**
 * GET /v1/models/:id/misclassified: the evaluation split's errors of a model, most confident first,
 * optionally of one true class and/or one predicted class (a cell of the confusion matrix), each with the
 * URL of its image.
 */
export const misclassifiedRoute: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  app.get(
    "/v1/models/:id/misclassified",
    {
      schema: {
        tags: ["models"],
        operationId: "listMisclassified",
        summary:
          "The evaluation split's misclassified images, most confident first; trueLabel and predicted select a cell of the confusion matrix",
        params: idParams("mdl"),
        querystring: Type.Object({
          trueLabel: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          predicted: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50, description: "Items per page" }),
          cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
        }),
        response: {
          200: Type.Object(
            {
              items: Type.Array(MisclassifiedSchema),
              nextCursor: Type.Union([Type.String(), Type.Null()]),
            },
            { title: "MisclassifiedPage" },
          ),
          ...errorResponses(400, 404),
        },
      },
    },
    async (req) => {
      const { id } = req.params;
      const { trueLabel, predicted, limit, cursor } = req.query;
      const model = owned(req, await ctx.models.get(id), "model", id);
      const offset = decodeOffset(cursor);
      const errors = (await ctx.models.readMisclassified(id)).filter(
        (m) => (!trueLabel || m.trueLabel === trueLabel) && (!predicted || m.predicted === predicted),
      );
      const page = errors.slice(offset, offset + limit);
      return {
        items: page.map((m) => ({
          ...m,
          imageUrl: `/v1/datasets/${model.datasetId}/images/${m.path.split("/").map(encodeURIComponent).join("/")}`,
        })),
        nextCursor: offset + limit < errors.length ? encodeOffset(offset + limit) : null,
      };
    },
  );
};
