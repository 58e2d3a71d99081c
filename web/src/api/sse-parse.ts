/** The text/event-stream format, parsed (no DOM, no network: unit-tested in Node). */

/** One Server-Sent Event. */
export interface ServerEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Parses a chunk of an event stream: the complete events in `buffer` + `chunk`, and what is left over.
 * Comments (`: keep-alive`) are skipped; `data:` lines are joined with newlines.
 */
export function parseEvents(buffer: string, chunk: string): { events: ServerEvent[]; rest: string } {
  let text = buffer + chunk;
  // A chunk that ends in "\r" may be half of a "\r\n": keep it for the next chunk.
  const held = text.endsWith("\r") ? "\r" : "";
  text = text.slice(0, text.length - held.length).replace(/\r\n?/g, "\n");
  const blocks = text.split("\n\n");
  const rest = (blocks.pop() ?? "") + held;
  const events: ServerEvent[] = [];
  for (const block of blocks) {
    let event = "message";
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (data.length > 0) events.push({ event, data: data.join("\n"), id });
  }
  return { events, rest };
}
