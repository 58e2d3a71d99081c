import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AppError } from "../errors.js";

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
    } else if ("validation" in err && err.validation) {
      status = 400;
      code = "VALIDATION_ERROR";
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
