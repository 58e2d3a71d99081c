import multipart from "@fastify/multipart";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { registerAuth } from "./auth/plugin.js";
import { registerRateLimit } from "./auth/rate-limit.js";
import { keyRoutes } from "./auth/routes.js";
import { backboneRoutes } from "./backbones/routes.js";
import type { Context } from "./context.js";
import { datasetRoutes } from "./datasets/routes.js";
import { healthRoutes } from "./health/routes.js";
import { clientErrorHandler, frameworkErrorHandler, registerErrorHandler } from "./http/error-handler.js";
import { openapiOptions } from "./http/openapi.js";
import { registerSecurity } from "./http/security.js";
import { jobRoutes } from "./jobs/routes.js";
import { exportRoute } from "./models/export-route.js";
import { misclassifiedRoute } from "./models/misclassified-route.js";
import { modelRoutes } from "./models/routes.js";
import { metricsRoutes } from "./ops/metrics-routes.js";
import type { Queues } from "./queues.js";
import { webRoutes } from "./web/routes.js";

/** What the app is built from. */
export interface AppOptions {
  ctx: Context;
  queues: Queues;
}

/** Builds the Fastify app (routes, schemas, OpenAPI, error handling). It never listens. */
export async function buildApp({ ctx, queues }: AppOptions) {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    ajv: {
      // allErrors + verbose: every failing field is reported, with its schema for "did you mean" hints.
      customOptions: {
        coerceTypes: "array",
        useDefaults: true,
        removeAdditional: false,
        allErrors: true,
        verbose: true,
      },
    },
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerErrorHandler(app);
  await registerSecurity(app, ctx.config);
  await registerAuth(app, ctx);
  await registerRateLimit(app, ctx);
  app.removeContentTypeParser("text/plain");
  await app.register(multipart, { throwFileSizeLimit: false });
  await app.register(swagger, openapiOptions);
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, () => app.swagger());

  await app.register(healthRoutes, { ctx });
  await app.register(metricsRoutes, { ctx, queues });
  await app.register(keyRoutes, { ctx });
  await app.register(backboneRoutes, { ctx });
  await app.register(datasetRoutes, { ctx, queues });
  await app.register(jobRoutes, { ctx, queues });
  await app.register(modelRoutes, { ctx, queues });
  await app.register(misclassifiedRoute, { ctx });
  await app.register(exportRoute, { ctx });
  await app.register(webRoutes, { config: ctx.config });
  return app;
}
