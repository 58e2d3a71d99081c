import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../../api/client";
import { readEvents } from "../../api/sse";
import type { Job } from "../../api/types";
import { isActive } from "./job-summary";

/** What the job page shows: the latest job record, how it arrives, and an error. */
export interface JobStream {
  job: Job | undefined;
  error: unknown;
  /** `stream` while the event stream delivers, `poll` after it failed, `done` once the job ended. */
  mode: "stream" | "poll" | "done";
  /** Replaces the record (after a cancel). */
  set: (job: Job) => void;
}

const POLL_MS = 1000;

/**
 * The job, live: GET /v1/jobs/:id first, then its Server-Sent Events (read with fetch, so the key goes
 * along), reopened when the server closes a stream early; falls back to polling when the stream fails.
 */
export function useJobStream(id: string): JobStream {
  const [job, setJob] = useState<Job | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [mode, setMode] = useState<JobStream["mode"]>("stream");

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let latest: Job | undefined;
    const accept = (j: Job) => {
      latest = j;
      setJob(j);
      setError(undefined);
    };
    const run = async () => {
      accept(await api<Job>(`/v1/jobs/${id}`, { signal }));
      let failures = 0;
      while (!signal.aborted && latest && isActive(latest)) {
        try {
          await readEvents(
            `/v1/jobs/${id}/events`,
            (e) => {
              if (e.event === "progress") accept(JSON.parse(e.data) as Job);
            },
            signal,
          );
          failures = 0;
          if (latest && isActive(latest)) accept(await api<Job>(`/v1/jobs/${id}`, { signal }));
        } catch (err) {
          if (isAbort(err) || signal.aborted) return;
          failures++;
          setMode("poll");
          await sleep(POLL_MS);
          accept(await api<Job>(`/v1/jobs/${id}`, { signal }));
          if (failures < 3) setMode("stream");
        }
      }
      if (!signal.aborted) setMode("done");
    };
    run().catch((err) => {
      if (!isAbort(err) && !signal.aborted) setError(err);
    });
    return () => controller.abort();
  }, [id]);

  return { job, error, mode, set: setJob };
}
