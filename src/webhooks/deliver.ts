import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { CheckedTarget } from "./address-check.js";

/** What one POST gave: the receiver's status, or why there was none, and how long it took. */
export interface PostOutcome {
  status?: number;
  error?: string;
  ms: number;
}

/** Bytes of a receiver's answer that are read (and dropped) before the connection is closed. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * A `lookup` that answers every name with the checked address, whatever DNS says now: the connection goes
 * where the check allowed (no DNS rebinding). The host name stays in the URL, so the Host header, TLS
 * server name and certificate check still use it.
 */
function pinnedLookup(target: CheckedTarget): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
}

/**
 * POSTs `body` to a checked webhook target over a fresh connection to its checked address (redirects are
 * not followed). Never throws: a network error or running past `timeoutMs` (connecting, sending and
 * reading the answer together) gives `error`, an answer gives `status`.
 */
export function postOnce(
  target: CheckedTarget,
  body: Buffer,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<PostOutcome> {
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 10) / 10;
  const client = target.url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<PostOutcome, "ms">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, ms: ms() });
    };
    const req = client.request(target.url, {
      method: "POST",
      headers: { ...headers, "content-length": String(body.length) },
      lookup: pinnedLookup(target),
      agent: false,
    });
    const timer = setTimeout(() => {
      finish({ error: `timed out after ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_ANSWER_BYTES) {
          finish({ status });
          req.destroy();
        }
      });
      res.on("end", () => finish({ status }));
      res.on("error", () => finish({ status }));
      res.on("close", () => finish({ status }));
    });
    req.on("error", (err: NodeJS.ErrnoException) =>
      finish({ error: err.code ? `${err.code}: ${err.message}` : err.message }),
    );
    req.end(body);
  });
}
