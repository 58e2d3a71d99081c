import type { ServerResponse } from "node:http";
import type { JobRecord } from "./schemas.js";
import { isTerminal } from "./service.js";

/** Where a stream resumes: epochs of the current head already sent, and the last event's sequence number. */
export interface StreamCursor {
  epochs: number;
  seq: number;
}

/**
 * The cursor a `Last-Event-ID` header names (`<epochs>.<seq>`, the ids this stream sends), or a fresh
 * one for a missing or foreign id.
 */
export function parseLastEventId(header: string | string[] | undefined): StreamCursor {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^(\d{1,9})\.(\d{1,12})$/.exec(value?.trim() ?? "");
  return m ? { epochs: Number(m[1]), seq: Number(m[2]) } : { epochs: 0, seq: 0 };
}

/** Options of {@link streamJobEvents}. */
export interface JobStreamOptions {
  /** The job as first read (the route checked it exists and is the caller's). */
  first: JobRecord;
  /** Reads the job again (undefined once it is gone). */
  load: () => Promise<JobRecord | undefined>;
  /** Where to resume (from `Last-Event-ID`). */
  cursor: StreamCursor;
  /** True once the client went away or the server is closing. */
  stopped: () => boolean;
  /** Between reads of the job (default 500 ms). */
  pollMs?: number;
}

/**
 * Writes a job's Server-Sent Events until it ends: an `epoch` event for each epoch of the head in training
 * (the entry of `history`; a client that resumes with `Last-Event-ID` gets only the epochs it has not seen),
 * a `progress` event with the whole job (as GET /v1/jobs/:id returns it) whenever it changed, and `end`
 * (`{id, state}`) once it is completed, failed or cancelled. Every event has an `id:` `<epochs>.<seq>`;
 * an idle stream gets a comment every 15 s. A head that starts over (a sweep's next configuration) starts its
 * epochs from the first again.
 */
export async function streamJobEvents(res: ServerResponse, options: JobStreamOptions): Promise<void> {
  const { pollMs = 500 } = options;
  let { epochs, seq } = options.cursor;
  let job: JobRecord | undefined = options.first;
  let last = "";
  let beat = Date.now();
  const send = (event: string, data: unknown) => {
    seq += 1;
    res.write(`id: ${epochs}.${seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  while (job && !options.stopped()) {
    const history = job.history ?? [];
    if (history.length < epochs) epochs = 0;
    for (; epochs < history.length; ) {
      const entry = history[epochs];
      epochs += 1;
      send("epoch", entry);
    }
    const json = JSON.stringify(job);
    if (json !== last) {
      send("progress", job);
      last = json;
      beat = Date.now();
    } else if (Date.now() - beat > 15_000) {
      res.write(": keep-alive\n\n");
      beat = Date.now();
    }
    if (isTerminal(job.state)) {
      send("end", { id: job.id, state: job.state });
      return;
    }
    await new Promise((r) => setTimeout(r, pollMs));
    job = await options.load();
  }
}
