import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { Context } from "../context.js";
import { NotFoundError } from "../errors.js";
import { errorResponses } from "../http/schemas.js";
import { callerTenant, TENANT_PATTERN } from "./tenant.js";

const ScopeSchema = Type.Enum(["admin", "write", "predict"], {
  description:
    "`admin`: keys and everything; `write`: datasets, jobs, models, predict; `predict`: predict only",
});

const KeyInfo = Type.Object(
  {
    id: Type.String(),
    tenant: Type.String(),
    scopes: Type.Array(ScopeSchema),
    name: Type.String(),
    createdAt: Type.String({ format: "date-time" }),
  },
  { title: "ApiKey" },
);

/** The keys API (admin scope): create (the key is shown once), list, revoke. */
export const keyRoutes: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  app.post(
    "/v1/keys",
    {
      schema: {
        tags: ["keys"],
        operationId: "createKey",
        summary: "Create an API key for a tenant (admin); the key is in this answer only, stored hashed",
        body: Type.Object(
          {
            tenant: Type.Optional(
              Type.String({ pattern: TENANT_PATTERN, description: "Default: the calling key's tenant" }),
            ),
            scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: 3, uniqueItems: true }),
            name: Type.String({ maxLength: 100, default: "" }),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object(
            {
              ...KeyInfo.properties,
              key: Type.String({ description: "Shown once: `Authorization: Bearer <key>`" }),
            },
            { title: "CreatedApiKey" },
          ),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (req, reply) => {
      const { key, info } = await ctx.keys.create({
        tenant: req.body.tenant ?? callerTenant(req),
        scopes: req.body.scopes,
        name: req.body.name,
      });
      req.log.info({ keyId: info.id, tenant: info.tenant, scopes: info.scopes }, "API key created");
      return reply
        .status(201)
        .header("location", `/v1/keys/${info.id}`)
        .send({ ...info, key });
    },
  );

  app.get(
    "/v1/keys",
    {
      schema: {
        tags: ["keys"],
        operationId: "listKeys",
        summary: "List API keys of every tenant (admin), newest first, without their secrets",
        response: { 200: Type.Object({ items: Type.Array(KeyInfo) }), ...errorResponses(401, 403) },
      },
    },
    async () => ({ items: await ctx.keys.list() }),
  );

  app.delete(
    "/v1/keys/:id",
    {
      schema: {
        tags: ["keys"],
        operationId: "revokeKey",
        summary: "Revoke an API key (admin): it is refused from the next request on",
        params: Type.Object({ id: Type.String({ pattern: "^key_[0-9a-f]{16}$" }) }),
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (req, reply) => {
      if (!(await ctx.keys.revoke(req.params.id))) throw new NotFoundError("key", req.params.id);
      req.log.info({ keyId: req.params.id }, "API key revoked");
      return reply.status(204).send(null);
    },
  );
};
