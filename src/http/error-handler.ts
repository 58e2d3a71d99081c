import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AppError, ServiceUnavailableError } from "../errors.js";
import { isDiskFull } from "../lib/disk.js";

const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: "BAD_REQUEST" },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: "PAYLOAD_TOO_LARGE" },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: "INVALID_JSON" },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: "INVALID_JSON" },
  FST_ERR_VALIDATION: { status: 400, code: "VALIDATION_ERROR" },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: "PAYLOAD_TOO_LARGE" },
  FST_FILES_LIMIT: { status: 413, code: "PAYLOAD_TOO_LARGE" },
  FST_PARTS_LIMIT: { status: 413, code: "PAYLOAD_TOO_LARGE" },
  FST_FIELDS_LIMIT: { status: 413, code: "PAYLOAD_TOO_LARGE" },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
  FST_PROTO_VIOLATION: { status: 400, code: "BAD_REQUEST" },
};

/** What Ajv reports per failing keyword (with `verbose`, the schema that failed). */
interface ValidationIssue {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
  parentSchema?: { properties?: Record<string, unknown> };
}

/**
 * One message naming every failing field, e.g. `unknown field 'epoch' (did you mean 'epochs'?); body/dropout
 * must be <= 0.95`. Union alternatives that repeat a message are listed once.
 */
export function validationMessage(issues: readonly ValidationIssue[], context: string): string {
  const parts = issues.map((v) => {
    const where = `${context}${v.instancePath}`;
    if (v.keyword === "additionalProperties") {
      const field = String(v.params.additionalProperty);
      const guess = closest(field, Object.keys(v.parentSchema?.properties ?? {}));
      const inside = v.instancePath ? ` in ${where}` : ` in ${context}`;
      return `unknown field '${field}'${inside}${guess ? ` (did you mean '${guess}'?)` : ""}`;
    }
    if (v.keyword === "required") return `${where} is missing field '${String(v.params.missingProperty)}'`;
    return `${where} ${v.message ?? "is invalid"}`;
  });
  return [...new Set(parts)].join("; ");
}

/** The known name within edit distance 2 (or differing only in case) of `name`, if any. */
function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = k.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

function toSnake(code: string): string {
  return code
    .replace(/^FST_(ERR_)?/, "")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .toUpperCase();
}

/** Maps every error to `{"error": {"code", "message"}}`; 5xx messages are logged and replaced. */
// biome-ignore lint/suspicious/noExplicitAny: works on any typed instance
export function registerErrorHandler(app: FastifyInstance<any, any, any, any, any>): void {
  app.setErrorHandler((err: FastifyError | AppError | Error, req: FastifyRequest, reply: FastifyReply) => {
    let status = 500;
    let code = "INTERNAL_ERROR";
    if (err instanceof AppError) {
      status = err.statusCode;
      code = err.code;
      if (err instanceof ServiceUnavailableError && err.retryAfterSeconds !== undefined) {
        reply.header("retry-after", String(err.retryAfterSeconds));
      }
    } else if (isDiskFull(err)) {
      req.log.error({ err: err.message }, "disk full");
      return reply.status(507).send({
        error: {
          code: "INSUFFICIENT_STORAGE",
          message: "the server's disk is full: nothing was stored; retry once space is freed",
        },
      });
    } else if (isRedisUnavailable(err)) {
      req.log.warn({ err: err.message }, "redis unavailable");
      return reply
        .status(503)
        .header("retry-after", "5")
        .send({
          error: { code: "REDIS_UNAVAILABLE", message: "the queue's Redis is unavailable; retry shortly" },
        });
    } else if ("validation" in err && err.validation) {
      status = 400;
      code = "VALIDATION_ERROR";
      const message = validationMessage(err.validation, err.validationContext ?? "body");
      req.log.info({ code, status, msg: message }, "request rejected");
      return reply.status(status).send({ error: { code, message } });
    } else if ("code" in err && typeof err.code === "string" && FASTIFY_CODES[err.code]) {
      ({ status, code } = FASTIFY_CODES[err.code]);
    } else if ("statusCode" in err && typeof err.statusCode === "number" && err.statusCode >= 400) {
      status = err.statusCode;
      code = "code" in err && typeof err.code === "string" ? toSnake(err.code) : "BAD_REQUEST";
    }
    if (status >= 500 && !(err instanceof AppError && status !== 500)) {
      req.log.error({ err }, "request failed");
      return reply.status(status).send({ error: { code, message: "internal server error" } });
    }
    req.log.info({ code, status, msg: err.message }, "request rejected");
    return reply.status(status).send({ error: { code, message: err.message } });
  });
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) =>
    reply.status(404).send({
      error: { code: "NOT_FOUND", message: `route ${req.method} ${req.url.split("?")[0]} not found` },
    }),
  );
}

/** ioredis' errors for a Redis that is unreachable or too slow (a fail-fast connection, see createRedis). */
function isRedisUnavailable(err: Error): boolean {
  return (
    err.name === "MaxRetriesPerRequestError" ||
    /Stream isn't writeable|enableOfflineQueue|Connection is closed|Command timed out|ECONNREFUSED/.test(
      err.message,
    )
  );
}
