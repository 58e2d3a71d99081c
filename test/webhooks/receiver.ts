/**
 * A real webhook receiver for the tests: a node:http server on 127.0.0.1 that keeps every request (headers
 * and exact body bytes) by path and answers each path with a scripted list of statuses (the last repeats;
 * 200 by default).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { EventEmitter, once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";

/** One request the receiver got. */
export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface Receiver {
  /** `http://127.0.0.1:<port>`. */
  base: string;
  /** Requests so far to `path`, in order. */
  requests(path: string): Received[];
  /** Answers `path` with these statuses in turn (the last one repeats). */
  script(path: string, statuses: number[]): void;
  /** Resolves once `path` has had `n` requests. */
  waitForRequests(path: string, n: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Starts a receiver on an ephemeral port of 127.0.0.1. */
export async function startReceiver(): Promise<Receiver> {
  const got = new Map<string, Received[]>();
  const scripts = new Map<string, number[]>();
  const events = new EventEmitter();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const list = got.get(path) ?? [];
      list.push({ path, headers: req.headers, body: Buffer.concat(chunks) });
      got.set(path, list);
      const statuses = scripts.get(path) ?? [200];
      const status = statuses[Math.min(list.length - 1, statuses.length - 1)];
      res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "not now");
      events.emit("request", path);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const requests = (path: string) => got.get(path) ?? [];
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    script: (path, statuses) => void scripts.set(path, statuses),
    async waitForRequests(path, n) {
      while (requests(path).length < n) await once(events, "request");
      return requests(path);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Whether `header` is `sha256=<hex HMAC-SHA256 of body under secret>` (computed here, independently). */
export function signedWith(body: Buffer, secret: string, header: string | string[] | undefined): boolean {
  if (typeof header !== "string") return false;
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
