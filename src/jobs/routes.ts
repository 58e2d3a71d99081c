import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import Type from "typebox";
import { assertJobQuota } from "../auth/quotas.js";
import { callerTenant, owned } from "../auth/tenant.js";
import type { Context } from "../context.js";
import { readyDatasetOf } from "../datasets/owned.js";
import { NotFoundError } from "../errors.js";
import { cursorKey, PageOf, PageQuery, pageFrom } from "../http/pagination.js";
import { errorResponses, idParams } from "../http/schemas.js";
import type { Queues } from "../queues.js";
import { checkClassWeights } from "../training/class-weights.js";
import { sweepConfigs } from "../training/sweep.js";
import { checkWebhookUrl } from "../webhooks/address-check.js";
import { parseLastEventId, streamJobEvents } from "./events.js";
import { CreateJobSchema, type JobRecord, JobSchema, JobStateSchema, resolveTrainParams } from "./schemas.js";
import { cancelJob, enqueueJob, newJobId } from "./service.js";

const Accepted = Type.Object({ id: Type.String(), state: JobStateSchema }, { title: "JobAccepted" });

/** The jobs API: create a training job, get, list, cancel, stream progress. */
export const jobRoutes: FastifyPluginAsyncTypebox<{ ctx: Context; queues: Queues }> = async (
  app,
  { ctx, queues },
) => {
  let closing = false;
  app.addHook("onClose", async () => {
    closing = true;
  });

  app.post(
    "/v1/jobs",
    {
      schema: {
        tags: ["jobs"],
        operationId: "createJob",
        summary:
          "Start a training job. An Idempotency-Key header makes retries of the same request return the same job. With `webhook`, the job is POSTed (signed) to its URL when it ends; a URL that resolves to a non-public address is refused with 422 WEBHOOK_URL_REFUSED.",
        headers: Type.Object({
          "idempotency-key": Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        }),
        body: CreateJobSchema,
        response: { 202: Accepted, ...errorResponses(400, 403, 409, 415, 422) },
      },
    },
    async (req, reply) => {
      const { webhook, ...input } = req.body;
      const params = resolveTrainParams(input, ctx.config.DEFAULT_BACKBONE);
      const tenant = callerTenant(req);
      const dataset = await readyDatasetOf(ctx, req, params.datasetId);
      await ctx.registry.manifest(params.backbone);
      checkClassWeights(params.classWeights, dataset.classes);
      sweepConfigs(params);
      if (webhook) await checkWebhookUrl(webhook.url, { allowPrivate: ctx.config.WEBHOOK_ALLOW_PRIVATE });
      await assertJobQuota(ctx, tenant);
      const { record } = await enqueueJob(ctx, queues, {
        id: newJobId(req.headers["idempotency-key"], tenant),
        type: "train",
        params,
        tenant,
        webhook,
      });
      return reply
        .status(202)
        .header("location", `/v1/jobs/${record.id}`)
        .send({ id: record.id, state: record.state });
    },
  );

  app.get(
    "/v1/jobs",
    {
      schema: {
        tags: ["jobs"],
        operationId: "listJobs",
        summary: "List jobs, newest first, optionally by state or type",
        querystring: Type.Object({
          ...PageQuery.properties,
          state: Type.Optional(JobStateSchema),
          type: Type.Optional(Type.Enum(["train", "predict"])),
        }),
        response: { 200: PageOf(JobSchema, "JobPage"), ...errorResponses(400) },
      },
    },
    async (req) => {
      const { limit, cursor, state, type } = req.query;
      const jobs = await ctx.jobs.list({
        state,
        type,
        tenant: callerTenant(req),
        limit: limit + 1,
        afterKey: cursorKey(cursor),
      });
      return pageFrom(jobs, limit);
    },
  );

  app.get(
    "/v1/jobs/:id",
    {
      schema: {
        tags: ["jobs"],
        operationId: "getJob",
        summary: "Get a job: state, progress, epoch history, leaderboard, model id or error",
        params: idParams("job"),
        response: { 200: JobSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      const job = await ownedJob(ctx, req, req.params.id);
      if (job.state !== "running") return job;
      // A live worker renews the job's BullMQ lock; without one, the job is stalled until another takes it.
      const locked = await ctx.redis.exists(queues.jobs.toKey(`${job.id}:lock`));
      return { ...job, stalled: locked === 0 };
    },
  );

  app.delete(
    "/v1/jobs/:id",
    {
      schema: {
        tags: ["jobs"],
        operationId: "cancelJob",
        summary: "Cancel a queued or running job",
        params: idParams("job"),
        response: { 202: Accepted, ...errorResponses(404, 409) },
      },
    },
    async (req, reply) => {
      await ownedJob(ctx, req, req.params.id);
      const job = await cancelJob(ctx, queues, req.params.id);
      return reply.status(202).send({ id: job.id, state: job.state });
    },
  );

  app.get(
    "/v1/jobs/:id/events",
    {
      schema: {
        tags: ["jobs"],
        operationId: "streamJobEvents",
        summary:
          "Server-Sent Events: `epoch` (one per epoch, the history entry), `progress` (the job as GET /v1/jobs/:id returns it, when it changed), then `end` ({id, state}); each has an `id:`, and a client that reconnects with `Last-Event-ID` resumes after it (epochs it has seen are not sent again)",
        params: idParams("job"),
        produces: ["text/event-stream"],
        response: { 200: Type.String(), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const first = await ownedJob(ctx, req, req.params.id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        connection: "keep-alive",
      });
      let closed = false;
      req.raw.on("close", () => {
        closed = true;
      });
      try {
        await streamJobEvents(res, {
          first,
          load: () => ctx.jobs.get(req.params.id),
          cursor: parseLastEventId(req.headers["last-event-id"]),
          stopped: () => closed || closing,
        });
      } catch (err) {
        req.log.warn({ err: (err as Error).message }, "job event stream ended by an error");
        res.write(`event: error\ndata: ${JSON.stringify({ code: "REDIS_UNAVAILABLE" })}\n\n`);
      }
      res.end();
    },
  );
};

/** The caller's job, or a 404 (also for another tenant's job). */
export async function ownedJob(ctx: Context, req: FastifyRequest, id: string): Promise<JobRecord> {
  const job = await ctx.jobs.get(id);
  if (!job) throw new NotFoundError("job", id);
  return owned(req, job, "job", id);
}
