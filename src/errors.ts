/** An error with an API code and HTTP status; messages of statuses below 500 reach the client. */
export class AppError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** 400: the request itself is malformed. */
export class BadRequestError extends AppError {
  constructor(message: string, code = "BAD_REQUEST") {
    super(400, code, message);
  }
}

/** 401: no API key, or one that is unknown or revoked; `challenge` goes out as `WWW-Authenticate`. */
export class UnauthorizedError extends AppError {
  constructor(
    message: string,
    readonly challenge: string,
  ) {
    super(401, "UNAUTHORIZED", message);
  }
}

/** 403: the caller may not do this (a scope it lacks, a cross-origin form, a quota). */
export class ForbiddenError extends AppError {
  constructor(message: string, code = "FORBIDDEN") {
    super(403, code, message);
  }
}

/** 404: an id that does not exist. */
export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super(404, "NOT_FOUND", `${what} '${id}' not found`);
  }
}

/** 409: the resource is in a state that forbids the request. */
export class ConflictError extends AppError {
  constructor(message: string, code = "CONFLICT") {
    super(409, code, message);
  }
}

/** 413: the payload is larger than allowed. */
export class PayloadTooLargeError extends AppError {
  constructor(message: string) {
    super(413, "PAYLOAD_TOO_LARGE", message);
  }
}

/** 415: a media type the route does not accept. */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string) {
    super(415, "UNSUPPORTED_MEDIA_TYPE", message);
  }
}

/** 422: valid JSON that cannot be carried out (unknown dataset, unknown backbone, ...). */
export class UnprocessableError extends AppError {
  constructor(message: string, code = "UNPROCESSABLE") {
    super(422, code, message);
  }
}

/** 507: the server's disk (or quota) has no room for what the request would store. */
export class InsufficientStorageError extends AppError {
  constructor(message: string) {
    super(507, "INSUFFICIENT_STORAGE", message);
  }
}

/** 503: a dependency (Redis, ...) is unavailable. */
export class ServiceUnavailableError extends AppError {
  /** @param retryAfterSeconds sent as `Retry-After` when given. */
  constructor(
    message: string,
    code = "SERVICE_UNAVAILABLE",
    readonly retryAfterSeconds?: number,
  ) {
    super(503, code, message);
  }
}

/**
 * An image that cannot be decoded or is outside the limits. `reason` says why in a sentence of our own,
 * sent to clients; `cause` keeps a decoder's original error (libvips internals) for logs only.
 */
export class ImageError extends AppError {
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(400, "INVALID_IMAGE", reason, options);
  }

  /** The decoder's own message from `cause`, for logs; never part of `message` or `reason`. */
  get detail(): string | undefined {
    if (this.cause === undefined) return undefined;
    return this.cause instanceof Error ? this.cause.message : String(this.cause);
  }
}
