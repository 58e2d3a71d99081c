import { ApiError, UnreachableError } from "./errors.js";

/** Query parameters; undefined values are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** A request: fetch's init plus a query, and whether it may be sent again on 429/503 with Retry-After. */
export interface RequestOptions extends Omit<RequestInit, "headers"> {
  query?: Query;
  headers?: Record<string, string>;
  /** The body can be sent again (not a stream): retry once the server's Retry-After has passed. */
  retry?: boolean;
  /** Whether a non-2xx answer is returned instead of thrown. */
  allowError?: boolean;
}

/** A page of a collection (API.md "Lists"). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const MAX_RETRIES = 3;
const MAX_RETRY_AFTER_S = 30;
/** Largest page the API serves. */
export const MAX_PAGE = 500;

/** Error codes of Node's network stack (undici's `cause.code`) that mean no answer came back. */
const NETWORK_CODES = /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/;

/** The client of the v1 HTTP API: base URL, Bearer key, the API's error shape, paginated lists. */
export class Api {
  constructor(
    readonly baseUrl: URL,
    private readonly key?: string,
    private readonly userAgent = "transfer-cli",
  ) {}

  /** The absolute URL of `route` (e.g. `/v1/datasets`) with `query`. */
  url(route: string, query: Query = {}): URL {
    const base = this.baseUrl.href.endsWith("/") ? this.baseUrl.href : `${this.baseUrl.href}/`;
    const url = new URL(route.replace(/^\//, ""), base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /**
   * Sends a request. A non-2xx answer is thrown as {@link ApiError} (unless `allowError`); no answer at
   * all as {@link UnreachableError}. 429 and 503 with `Retry-After` are retried when `retry` is set.
   */
  async request(method: string, route: string, options: RequestOptions = {}): Promise<Response> {
    const { query, headers = {}, retry = false, allowError = false, ...init } = options;
    const url = this.url(route, query);
    const allHeaders: Record<string, string> = { "user-agent": this.userAgent, ...headers };
    if (this.key) allHeaders.authorization = `Bearer ${this.key}`;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, { ...init, method, headers: allHeaders });
      } catch (err) {
        throw this.networkError(err, init.signal);
      }
      if (res.ok || allowError) return res;
      const error = await apiErrorOf(res);
      const waitS = error.retryAfter;
      if (
        retry &&
        attempt < MAX_RETRIES &&
        (res.status === 429 || res.status === 503) &&
        waitS !== undefined
      ) {
        await sleep(Math.min(waitS, MAX_RETRY_AFTER_S) * 1000, init.signal ?? undefined);
        continue;
      }
      throw error;
    }
  }

  /** A request answered with JSON (a body is sent as JSON, or as multipart when it is FormData); the parsed answer, or undefined for an empty one. */
  async json<T>(
    method: string,
    route: string,
    body?: unknown,
    query?: Query,
    headers: Record<string, string> = {},
  ): Promise<T> {
    // A FormData body goes as multipart (fetch writes its boundary); anything else as JSON.
    const form = body instanceof FormData;
    const res = await this.request(method, route, {
      query,
      retry: true,
      headers: {
        accept: "application/json",
        ...(body === undefined || form ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : form ? body : JSON.stringify(body),
    });
    const text = await this.read(() => res.text());
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** `GET route` with `query`. */
  get<T>(route: string, query?: Query): Promise<T> {
    return this.json<T>("GET", route, undefined, query);
  }

  /** Every item of a paginated collection, following `nextCursor`, at most `limit` of them. */
  async *list<T>(
    route: string,
    query: Query = {},
    limit = Number.POSITIVE_INFINITY,
    pageSize = MAX_PAGE,
  ): AsyncGenerator<T> {
    let cursor: string | undefined;
    let left = limit;
    while (left > 0) {
      const page = await this.get<Page<T>>(route, { ...query, limit: Math.min(left, pageSize), cursor });
      for (const item of page.items.slice(0, left)) yield item;
      left -= page.items.length;
      if (!page.nextCursor || page.items.length === 0) return;
      cursor = page.nextCursor;
    }
  }

  /** Runs `read` (a body read): a dropped connection becomes {@link UnreachableError}. */
  async read<T>(read: () => Promise<T>, signal?: AbortSignal | null): Promise<T> {
    try {
      return await read();
    } catch (err) {
      throw this.networkError(err, signal);
    }
  }

  /** What a failed fetch or body read means: an abort stays as it is; the rest is no answer. */
  networkError(err: unknown, signal?: AbortSignal | null): unknown {
    if (signal?.aborted || (err as Error)?.name === "AbortError") return err;
    if (err instanceof ApiError || err instanceof UnreachableError) return err;
    const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
    const code = cause?.code ?? (err as { code?: string })?.code;
    const detail = code && NETWORK_CODES.test(code) ? code : (cause?.message ?? (err as Error)?.message);
    return new UnreachableError(`cannot reach ${this.baseUrl.origin}: ${detail}`, err);
  }
}

/** The {@link ApiError} of a non-2xx answer: the API's `{error: {code, message}}`, else the status. */
export async function apiErrorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  const retryAfter = Number.parseFloat(res.headers.get("retry-after") ?? "");
  const wait = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (body?.error && typeof body.error.code === "string") {
      return new ApiError(res.status, body.error.code, String(body.error.message ?? ""), wait);
    }
  } catch {
    // not the API's error shape: fall through
  }
  const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
  return new ApiError(
    res.status,
    `HTTP_${res.status}`,
    snippet || res.statusText || `HTTP status ${res.status}`,
    wait,
  );
}

/** Resolves after `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
