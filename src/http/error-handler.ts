import type { Duplex } from "node:stream";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AppError, ServiceUnavailableError, UnauthorizedError } from "../errors.js";
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
  /** The failing value (Ajv's `verbose`). */
  data?: unknown;
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
      if (err instanceof UnauthorizedError) reply.header("www-authenticate", err.challenge);
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
      const id = malformedId(err.validation, err.validationContext);
      if (id !== undefined) {
        const message = `'${id}' not found: no id of this kind looks like that`;
        req.log.info({ code: "NOT_FOUND", status: 404, msg: message }, "request rejected");
        return reply.status(404).send({ error: { code: "NOT_FOUND", message } });
      }
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

/** The `id` path parameter that failed its pattern, if that is what failed. */
function malformedId(issues: readonly ValidationIssue[], context: string | undefined): string | undefined {
  const issue = issues.find(
    (v) => context === "params" && v.instancePath === "/id" && v.keyword === "pattern",
  );
  return issue && typeof issue.data === "string" ? issue.data : undefined;
}

const FRAMEWORK_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  FST_ERR_BAD_URL: { status: 400, code: "BAD_URL", message: "the URL is not valid percent-encoded UTF-8" },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: "URI_TOO_LONG",
    message: "a path segment of the URL is too long",
  },
};

/**
 * Fastify's `frameworkErrors` option: errors of routing itself (a URL that is not valid percent-encoding, a
 * path parameter over the length limit) in the error shape of every other error.
 */
export function frameworkErrorHandler(error: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const known = FRAMEWORK_ERRORS[error.code] ?? { status: 400, code: "BAD_REQUEST", message: "bad request" };
  req.log.info({ code: known.code, status: known.status, msg: error.message }, "request rejected");
  void reply.status(known.status).send({ error: { code: known.code, message: known.message } });
}

/**
 * Node's `clientError` (a request that is not valid HTTP): a 400 in the error shape, then the socket
 * closes.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: "BAD_REQUEST", message: "malformed HTTP request" } });
  socket.end(
    `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
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
