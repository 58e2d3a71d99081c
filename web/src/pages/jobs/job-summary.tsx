import type { Job } from "../../api/types";
import { duration, num } from "../../lib/format";

/** Whether a job can still change. */
export function isActive(job: Job): boolean {
  return job.state === "queued" || job.state === "running";
}

/** `epoch 3/20` when the job is in its epochs. */
export function epochText(job: Job): string {
  const p = job.progress;
  return p?.epoch !== undefined && p.epochs ? `epoch ${p.epoch}/${p.epochs}` : "";
}

/** Phase, images/s and ETA of a running job, as one line. */
export function progressLine(job: Job): string {
  const p = job.progress;
  if (!p) return job.state;
  const parts = [p.phase, epochText(job)];
  if (p.imagesPerSec) parts.push(`${num(p.imagesPerSec, 1)} images/s`);
  if (isActive(job) && p.etaSeconds !== undefined && p.etaSeconds !== null)
    parts.push(`ETA ${duration(p.etaSeconds)}`);
  return parts.filter(Boolean).join(" · ");
}
