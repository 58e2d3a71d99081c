import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import Type from "typebox";
import { assertJobQuota } from "../auth/quotas.js";
import { callerTenant, owned, ownedOnly } from "../auth/tenant.js";
import type { Context } from "../context.js";
import { readyDatasetOf } from "../datasets/owned.js";
import {
  AppError,
  BadRequestError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
} from "../errors.js";
import { Binary } from "../http/openapi.js";
import { PageOf, PageQuery, paginate } from "../http/pagination.js";
import { errorResponses, idParams } from "../http/schemas.js";
import { JobStateSchema, PredictJobParamsSchema } from "../jobs/schemas.js";
import { enqueueJob, newJobId } from "../jobs/service.js";
import type { Queues } from "../queues.js";
import { awaitPrediction } from "./await-prediction.js";
import { assertPixelBudget } from "./pixel-budget.js";
import { ModelSchema, PredictionSchema } from "./schemas.js";

const MAX_IMAGE_BYTES = 32 * 1024 * 1024;
const MAX_IMAGES = 64;
const PREDICT_TIMEOUT_MS = 60_000;
/** How often a waiting request checks that the worker holding its prediction is alive. */
const WATCHDOG_MS = 500;
const IMAGE_TYPES = [
  "image/jpeg",
  "image/png",
  "image/webp",
  "image/gif",
  "image/tiff",
  "application/octet-stream",
];

const Predictions = Type.Array(PredictionSchema);
const Unknown = Type.Optional(
  Type.Boolean({ description: "The image looks like none of the classes (the model's unknown rule)" }),
);
const PredictResponse = Type.Union([
  Type.Object({ predictions: Predictions, unknown: Unknown }, { title: "PredictOne" }),
  Type.Object(
    {
      results: Type.Array(
        Type.Object({ predictions: Predictions, unknown: Unknown }, { title: "PredictResult" }),
      ),
    },
    { title: "PredictMany" },
  ),
]);

/** The models API: list, get, delete, predict (online) and batch predictions (a job). */
export const modelRoutes: FastifyPluginAsyncTypebox<{ ctx: Context; queues: Queues }> = async (
  app,
  { ctx, queues },
) => {
  const modelOf = async (req: FastifyRequest, id: string) =>
    owned(req, await ctx.models.get(id), "model", id);

  app.addContentTypeParser(
    /^(image\/[\w.+-]+|application\/octet-stream)$/,
    { parseAs: "buffer", bodyLimit: MAX_IMAGE_BYTES },
    (_req, body, done) => done(null, body),
  );

  app.get(
    "/v1/models",
    {
      schema: {
        tags: ["models"],
        operationId: "listModels",
        summary: "List models, newest first",
        querystring: PageQuery,
        response: { 200: PageOf(ModelSchema, "ModelPage"), ...errorResponses(400) },
      },
    },
    async (req) => paginate(ownedOnly(req, await ctx.models.list()), req.query.limit, req.query.cursor),
  );

  app.get(
    "/v1/models/:id",
    {
      schema: {
        tags: ["models"],
        operationId: "getModel",
        summary: "Get a model: classes, test or validation metrics, calibration, unknown rule",
        params: idParams("mdl"),
        response: { 200: ModelSchema, ...errorResponses(404) },
      },
    },
    (req) => modelOf(req, req.params.id),
  );

  app.delete(
    "/v1/models/:id",
    {
      schema: {
        tags: ["models"],
        operationId: "deleteModel",
        summary: "Delete a model",
        params: idParams("mdl"),
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await modelOf(req, req.params.id);
      await ctx.models.delete(req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/v1/models/:id/predict",
    {
      schema: {
        tags: ["models"],
        operationId: "predict",
        summary: "Classify one image (raw body image/*) or several (multipart, fields named `image`)",
        consumes: [...IMAGE_TYPES, "multipart/form-data"],
        documentedBody: {
          description: "One image as the raw body, or several as multipart fields named `image`",
          content: {
            ...Object.fromEntries(IMAGE_TYPES.map((t) => [t, { schema: Binary }])),
            "multipart/form-data": {
              schema: {
                title: "PredictImages",
                type: "object",
                required: ["image"],
                properties: {
                  image: {
                    type: "array",
                    items: Binary,
                    minItems: 1,
                    maxItems: MAX_IMAGES,
                    description: "Images, classified in this order",
                  },
                },
              },
            },
          },
        },
        params: idParams("mdl"),
        querystring: Type.Object({
          topK: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
          unknown: Type.Enum(["on", "off"], { default: "on", description: "off leaves `unknown` out" }),
        }),
        response: { 200: PredictResponse, ...errorResponses(400, 404, 413, 415, 503) },
      },
    },
    async (req, reply) => {
      await modelOf(req, req.params.id);
      const images: Buffer[] = [];
      let multi = false;
      if (req.isMultipart()) {
        multi = true;
        const maxBytes = ctx.config.PREDICT_MAX_REQUEST_BYTES;
        let total = 0;
        for await (const part of req.parts({ limits: { fileSize: MAX_IMAGE_BYTES, files: MAX_IMAGES } })) {
          if (part.type !== "file") continue;
          if (part.fieldname !== "image")
            throw new BadRequestError(`unexpected file field '${part.fieldname}', expected 'image'`);
          const buf = await part.toBuffer();
          total += buf.length;
          if (total > maxBytes) {
            throw new PayloadTooLargeError(`the images of one request exceed ${maxBytes} bytes together`);
          }
          images.push(buf);
        }
      } else if (Buffer.isBuffer(req.body)) {
        images.push(req.body);
      } else if (req.body !== undefined) {
        throw new UnsupportedMediaTypeError(
          "send the image as the raw body (image/jpeg, image/png, ...) or multipart fields 'image'",
        );
      }
      if (images.length === 0 || images.every((b) => b.length === 0)) {
        throw new BadRequestError("empty body: no image to classify", "EMPTY_BODY");
      }
      await assertPixelBudget(images, ctx.config.PREDICT_MAX_REQUEST_PIXELS);
      const waiting = await queues.predict.getWaitingCount();
      if (waiting >= ctx.config.PREDICT_MAX_QUEUED) {
        throw new ServiceUnavailableError(
          `${waiting} predictions are waiting for a worker; retry in a moment`,
          "PREDICT_BUSY",
          1,
        );
      }
      const job = await queues.predict.add("predict", {
        modelId: req.params.id,
        images: images.map((b) => b.toString("base64")),
        topK: req.query.topK,
        unknown: req.query.unknown !== "off",
      });
      // A client that hangs up before its answer: its prediction is dropped if no worker has taken it yet.
      const gone = () => {
        if (!reply.raw.writableFinished) void job.remove().catch(() => undefined);
      };
      reply.raw.once("close", gone);
      const result = await awaitPrediction(job, {
        redis: ctx.redis,
        queue: queues.predict,
        events: queues.predictEvents,
        timeoutMs: PREDICT_TIMEOUT_MS,
        checkEveryMs: WATCHDOG_MS,
      }).catch((err: Error) => {
        if (err instanceof AppError) throw err;
        throw new AppError(500, "PREDICT_FAILED", err.message);
      });
      const results = result.results.map((r, i) => {
        if ("error" in r)
          throw new BadRequestError(
            multi ? `image ${i + 1}: ${r.error.message}` : r.error.message,
            r.error.code,
          );
        return r;
      });
      return multi ? { results } : results[0];
    },
  );

  app.post(
    "/v1/models/:id/predictions",
    {
      schema: {
        tags: ["models"],
        operationId: "createBatchPrediction",
        summary: "Batch inference over a dataset, as a job of type predict",
        params: idParams("mdl"),
        body: PredictJobParamsSchema,
        response: {
          202: Type.Object({ id: Type.String(), state: JobStateSchema }),
          ...errorResponses(400, 403, 404, 409, 422),
        },
      },
    },
    async (req, reply) => {
      await modelOf(req, req.params.id);
      await readyDatasetOf(ctx, req, req.body.datasetId);
      const tenant = callerTenant(req);
      await assertJobQuota(ctx, tenant);
      const { record } = await enqueueJob(ctx, queues, {
        id: newJobId(),
        type: "predict",
        params: { modelId: req.params.id, datasetId: req.body.datasetId },
        tenant,
      });
      return reply
        .status(202)
        .header("location", `/v1/jobs/${record.id}`)
        .send({ id: record.id, state: record.state });
    },
  );
};
