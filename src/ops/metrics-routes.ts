import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import fp from "fastify-plugin";
import Type from "typebox";
import type { Context } from "../context.js";
import type { Queues } from "../queues.js";
import { webhookQueue } from "../webhooks/queue.js";
import { collectMetrics, predictLatency, queueSources, registry } from "./metrics.js";

/*
 * `GET /metrics` (Prometheus text, open like health): the API's metrics (predict latency, queue depths,
 * process) and those every live worker publishes to Redis. Also times every `/predict` request.
 */
const plugin: FastifyPluginAsyncTypebox<{ ctx: Context; queues: Queues }> = async (app, { ctx, queues }) => {
  const sources = [queues.jobs, queues.ingest, queues.predict, webhookQueue(ctx)];
  for (const q of sources) queueSources.add(q);
  app.addHook("onClose", async () => {
    for (const q of sources) queueSources.delete(q);
  });
  app.addHook("onResponse", async (req, reply) => {
    if (req.routeOptions.url !== "/v1/models/:id/predict") return;
    predictLatency.observe({ status: `${Math.floor(reply.statusCode / 100)}xx` }, reply.elapsedTime / 1000);
  });
  app.get(
    "/metrics",
    {
      schema: {
        tags: ["operations"],
        operationId: "getMetrics",
        summary:
          "Prometheus metrics of the API and of every live worker: queue depths, job and epoch durations, extraction images/s, predict latency and batch sizes, model cache, process",
        produces: [registry.contentType.split(";")[0]],
        response: { 200: Type.String() },
      },
    },
    async (_req, reply) =>
      reply.type(registry.contentType).send(await collectMetrics(ctx.redis, ctx.config.QUEUE_PREFIX)),
  );
};

/** The plugin, not encapsulated: its `/predict` timing hook sees the routes of the whole app. */
export const metricsRoutes = fp(plugin, { name: "metrics" });
