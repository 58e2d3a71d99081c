import type { FastifyDynamicSwaggerOptions } from "@fastify/swagger";
import { ErrorSchema } from "./schemas.js";

declare module "fastify" {
  interface FastifySchema {
    /**
     * A request body described in the OpenAPI document only (multipart uploads, raw images): the route
     * reads it itself, so Fastify does not validate it.
     */
    documentedBody?: { description?: string; content: Record<string, { schema: unknown }> };
  }
}

type Json = Record<string, unknown>;

const COMPONENT_PREFIX = "#/components/schemas/";

/** Descriptions of responses whose schema gives none. */
const STATUS_TEXT: Record<string, string> = {
  "200": "OK",
  "201": "Created",
  "202": "Accepted: the work continues on the queue",
  "204": "Done; no content",
  "400": "Bad request: invalid input (the message names each bad field)",
  "401": "No key, or an invalid one",
  "403": "Not allowed, or over quota",
  "404": "Unknown id",
  "409": "Wrong state for this request",
  "413": "Too large",
  "415": "Unsupported media type",
  "422": "Valid request that cannot be done (unknown dataset, backbone or class)",
  "429": "Rate limited: retry after `Retry-After` seconds",
  "503": "A dependency (Redis, a worker) is unavailable",
  "507": "Out of disk space",
};

/** A binary body or multipart field: `format: binary` (openapi-typescript can map it to `Blob`). */
export const Binary = { type: "string", format: "binary" } as const;

/** Routes that need no API key. */
const OPEN_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

/** Options for @fastify/swagger: OpenAPI 3.1, named component schemas, documented raw bodies. */
export const openapiOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: "3.1.0",
    info: {
      title: "Transfer-learning job server",
      version: "1.0.0",
      description:
        "Upload labelled images, train a classifier head on a frozen pretrained CNN, predict. " +
        "Every error is `{error: {code, message}}`.",
    },
    servers: [{ url: "/", description: "This server" }],
    security: [],
    components: {
      securitySchemes: {
        apiKey: {
          type: "http",
          scheme: "bearer",
          description:
            "An API key, when AUTH is on (by default when HOST is not loopback): `Authorization: Bearer <key>`",
        },
      },
    },
    tags: [
      { name: "datasets", description: "Upload, ingestion, the dataset report" },
      { name: "backbones", description: "Pretrained feature extractors" },
      { name: "jobs", description: "Training and batch prediction jobs" },
      { name: "models", description: "Trained models and prediction" },
      { name: "keys", description: "API keys and their tenants (admin)" },
      { name: "operations", description: "Health and readiness (open without a key)" },
    ],
  },
  transform: ({ schema, url }) => {
    if (!schema) return { schema, url };
    const { documentedBody, ...rest } = schema;
    const body = documentedBody ? { ...rest, body: documentedBody } : rest;
    const documented = OPEN_PATHS.has(url)
      ? body
      : {
          ...body,
          security: [{ apiKey: [] }],
          response: { 401: ErrorSchema, 429: ErrorSchema, ...(body.response as object | undefined) },
        };
    return url.endsWith("/*") ? namedWildcard(documented, url) : { schema: documented, url };
  },
  transformObject: (doc) => {
    if (!("openapiObject" in doc)) throw new Error("OpenAPI: only the openapi mode is used");
    return finishDocument(structuredClone(doc.openapiObject));
  },
};

/** A trailing `*` route documented as a `{path}` parameter (a URL template needs a name). */
function namedWildcard<S extends { params?: unknown }>(schema: S, url: string): { schema: S; url: string } {
  const params = schema.params as { properties?: Json; required?: string[] } | undefined;
  const { "*": star, ...others } = params?.properties ?? {};
  const path = {
    ...(star as Json | undefined),
    description: "The image's path in the archive, `/`-separated",
  };
  return {
    url: `${url.slice(0, -1)}:path`,
    schema: {
      ...schema,
      params: {
        ...params,
        properties: { ...others, path },
        required: [...(params?.required ?? []).filter((k) => k !== "*"), "path"],
      },
    },
  };
}

/**
 * The last pass over the generated document: response descriptions, fields with a default optional in
 * requests, no content on 204, and every titled schema moved to `components.schemas` behind a `$ref`.
 * Throws when two different schemas share a title.
 */
export function finishDocument<T>(doc: T): T {
  const root = doc as Json;
  const components = ((root.components as Json | undefined) ?? {}) as Json;
  const schemas = ((components.schemas as Json | undefined) ?? {}) as Json;
  const requestBodies = ((components.requestBodies as Json | undefined) ?? {}) as Json;
  for (const item of Object.values((root.paths as Json | undefined) ?? {}) as Json[]) {
    for (const op of Object.values(item) as Json[]) finishOperation(op, schemas, requestBodies);
  }
  components.schemas = schemas;
  components.requestBodies = requestBodies;
  root.components = components;
  return doc;
}

function finishOperation(op: Json, schemas: Json, requestBodies: Json): void {
  for (const param of (op.parameters as Json[] | undefined) ?? []) {
    const schema = param.schema as Json | undefined;
    if (param.in !== "path" && schema && "default" in schema) param.required = false;
    if (schema) param.schema = hoist(schema, schemas);
  }
  if (op.requestBody) op.requestBody = finishRequestBody(op.requestBody as Json, requestBodies);
  for (const [status, response] of Object.entries((op.responses as Json | undefined) ?? {}) as [
    string,
    Json,
  ][]) {
    if (!response.description || response.description === "Default Response") {
      response.description = STATUS_TEXT[status] ?? "Response";
    }
    if (status === "204") delete response.content;
    for (const media of Object.values((response.content as Json | undefined) ?? {}) as Json[]) {
      if (media.schema) media.schema = hoist(media.schema as Json, schemas);
    }
  }
}

/**
 * Request bodies keep their schemas inline, with fields that have a default optional: generators such as
 * openapi-typescript make a defaulted field required in a component schema (it is always in a response).
 * A body with one titled schema becomes a named `components.requestBodies` entry.
 */
function finishRequestBody(body: Json, requestBodies: Json): Json {
  const content = (body.content as Record<string, Json> | undefined) ?? {};
  for (const media of Object.values(content)) {
    if (media.schema) media.schema = defaultsOptional(media.schema as Json);
  }
  const schemas = Object.values(content).map((m) => m.schema as Json | undefined);
  const title = schemas.length === 1 ? schemas[0]?.title : undefined;
  if (typeof title !== "string") return body;
  const known = requestBodies[title];
  if (known !== undefined && JSON.stringify(known) !== JSON.stringify(body)) {
    throw new Error(`OpenAPI: two different request bodies are titled '${title}'`);
  }
  requestBodies[title] = body;
  return { $ref: `#/components/requestBodies/${title}` };
}

/** A request-side copy of `schema` where properties with a default are not required (recursively). */
function defaultsOptional(schema: Json): Json {
  const copy: Json = { ...schema };
  const props = copy.properties as Record<string, Json> | undefined;
  if (props) {
    copy.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, defaultsOptional(v)]));
    const required = (copy.required as string[] | undefined)?.filter((k) => !("default" in props[k]));
    if (required && required.length > 0) copy.required = required;
    else delete copy.required;
  }
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    if (Array.isArray(copy[key])) copy[key] = (copy[key] as Json[]).map(defaultsOptional);
  }
  if (copy.items && typeof copy.items === "object") copy.items = defaultsOptional(copy.items as Json);
  return copy;
}

/** Replaces titled (sub)schemas with `$ref`s to `components.schemas[title]`, innermost first. */
function hoist(schema: Json, schemas: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) out[key] = hoistValue(key, value, schemas);
  const title = out.title;
  if (typeof title !== "string") return out;
  const name = title.replace(/[^A-Za-z0-9._-]/g, "");
  const known = schemas[name];
  if (known !== undefined && JSON.stringify(known) !== JSON.stringify(out)) {
    throw new Error(`OpenAPI: two different schemas are titled '${title}'`);
  }
  schemas[name] = out;
  return { $ref: COMPONENT_PREFIX + name };
}

function hoistValue(key: string, value: unknown, schemas: Json): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    return ["anyOf", "oneOf", "allOf", "prefixItems"].includes(key)
      ? value.map((v) => hoist(v as Json, schemas))
      : value;
  }
  if (key === "properties" || key === "patternProperties" || key === "$defs") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hoist(v as Json, schemas)]));
  }
  if (["items", "additionalProperties", "not", "contains", "propertyNames"].includes(key)) {
    return hoist(value as Json, schemas);
  }
  return value;
}
