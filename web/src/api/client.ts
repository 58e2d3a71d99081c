import { askForKey, authHeaders } from "./auth";
import type { ErrorBody } from "./types";

/** An error answer of the API (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** An ApiError from an answer that is not OK, with the API's own code and message when it has them. */
export async function errorOf(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => undefined)) as ErrorBody | undefined;
  const code = body?.error?.code ?? `HTTP_${res.status}`;
  return new ApiError(res.status, code, body?.error?.message ?? res.statusText);
}

/**
 * fetch() with the key; a 401 asks for a key once and retries with it. The answer is returned whatever its
 * status (the caller decides); a network failure throws an ApiError with status 0.
 */
export async function authFetch(path: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const headers = { ...authHeaders(), ...(init.headers as Record<string, string> | undefined) };
    let res: Response;
    try {
      res = await fetch(path, { ...init, headers });
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new ApiError(0, "NETWORK_ERROR", "the server did not answer");
    }
    if (res.status !== 401 || attempt > 0) return res;
    if (!(await askForKey())) return res;
  }
}

/** A JSON request to the API; throws an {@link ApiError} for an error answer. */
export async function api<T>(
  path: string,
  options: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const init: RequestInit = { method: options.method ?? "GET", signal: options.signal };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { "content-type": "application/json" };
  }
  const res = await authFetch(path, init);
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A message for an error a call threw. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.status === 0 ? err.message : `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** Whether a thrown error is an aborted request (a page that went away), not worth showing. */
export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}
