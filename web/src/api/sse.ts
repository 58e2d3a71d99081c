import { authFetch, errorOf } from "./client";
import { parseEvents, type ServerEvent } from "./sse-parse";

/**
 * Reads an event stream with fetch (EventSource cannot send the key), calling `onEvent` for each event,
 * until the server ends it or `signal` aborts. Throws an ApiError when the stream cannot be opened.
 */
export async function readEvents(
  path: string,
  onEvent: (e: ServerEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await authFetch(path, { headers: { accept: "text/event-stream" }, signal });
  if (!res.ok || !res.body) throw await errorOf(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const parsed = parseEvents(rest, value);
      rest = parsed.rest;
      for (const e of parsed.events) onEvent(e);
    }
  } finally {
    reader.releaseLock();
  }
}
