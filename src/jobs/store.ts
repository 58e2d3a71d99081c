import type { Redis } from "ioredis";
import { tenantOf } from "../auth/tenant.js";
import { keyOf } from "../http/pagination.js";
import type { JobRecord, JobState } from "./schemas.js";

/** A cancel request outlives any job that could still read it, then expires. */
const CANCEL_FLAG_SECONDS = 7 * 24 * 3600;

/**
 * SET the record if absent; then its request fingerprint, its index entry and (when given) its webhook
 * secret. 1 when created.
 */
const CREATE_ONCE = `
if redis.call("SET", KEYS[1], ARGV[1], "NX") then
  redis.call("SET", KEYS[2], ARGV[2])
  redis.call("ZADD", KEYS[3], ARGV[3], ARGV[4])
  if ARGV[5] ~= "" then redis.call("SET", KEYS[4], ARGV[5]) end
  return 1
end
return 0`;

/**
 * Job records in Redis, beside BullMQ's own keys: one JSON value per job, a sorted set by creation time for
 * listing, a cancel flag that a running worker polls, and the webhook secret, kept apart from the record
 * so that nothing that shows a record can show it.
 */
export class JobStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:tls:job:${id}`;
  }

  private get indexKey(): string {
    return `${this.prefix}:tls:jobs`;
  }

  /**
   * Stores a new job record with the fingerprint of the request that made it (and its webhook secret, if
   * any), and indexes it, unless a record with its id exists: one Lua script, so that of two concurrent
   * requests with one id exactly one creates the record. Returns the stored record, its request
   * fingerprint, and whether it is `job`.
   */
  async create(
    job: JobRecord,
    fingerprint = "",
    webhookSecret = "",
  ): Promise<{ record: JobRecord; fingerprint: string; created: boolean }> {
    const created = await this.redis.eval(
      CREATE_ONCE,
      4,
      this.key(job.id),
      `${this.key(job.id)}:request`,
      this.indexKey,
      `${this.key(job.id)}:webhook-secret`,
      JSON.stringify(job),
      fingerprint,
      Date.parse(job.createdAt),
      job.id,
      webhookSecret,
    );
    if (created === 1) return { record: job, fingerprint, created: true };
    const [raw, stored] = await this.redis.mget(this.key(job.id), `${this.key(job.id)}:request`);
    return { record: JSON.parse(raw ?? "null") as JobRecord, fingerprint: stored ?? "", created: false };
  }

  /** The record, or undefined. */
  async get(id: string): Promise<JobRecord | undefined> {
    const raw = await this.redis.get(this.key(id));
    return raw ? (JSON.parse(raw) as JobRecord) : undefined;
  }

  /** The secret that signs the job's webhook deliveries, if it has a webhook. */
  async webhookSecret(id: string): Promise<string | undefined> {
    return (await this.redis.get(`${this.key(id)}:webhook-secret`)) ?? undefined;
  }

  /**
   * Applies a patch to a record (read-modify-write; each record has one writer at a time), or the patch that
   * `patch` computes from the current record. Returns the new record, or undefined when there is none.
   */
  async update(
    id: string,
    patch: Partial<JobRecord> | ((job: JobRecord) => Partial<JobRecord>),
  ): Promise<JobRecord | undefined> {
    const job = await this.get(id);
    if (!job) return undefined;
    const next = { ...job, ...(typeof patch === "function" ? patch(job) : patch) };
    await this.redis.set(this.key(id), JSON.stringify(next));
    return next;
  }

  /**
   * Jobs newest first (ties by id), optionally of one state or type, after `afterKey` (the sort key
   * `createdAt|id` of the last job of the previous page).
   */
  async list(options: {
    state?: JobState;
    limit: number;
    type?: JobRecord["type"];
    /** Only this tenant's jobs. */
    tenant?: string;
    afterKey?: string;
  }): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    const page = 200;
    const { afterKey } = options;
    const max = afterKey ? String(Date.parse(afterKey.slice(0, afterKey.indexOf("|")))) : "+inf";
    for (let offset = 0; out.length < options.limit; offset += page) {
      const ids = await this.redis.zrevrangebyscore(this.indexKey, max, "-inf", "LIMIT", offset, page);
      if (ids.length === 0) break;
      const raws = await this.redis.mget(ids.map((id) => this.key(id)));
      const jobs = raws.flatMap((raw) => (raw ? [JSON.parse(raw) as JobRecord] : []));
      jobs.sort((a, b) => keyOf(b).localeCompare(keyOf(a)));
      for (const job of jobs) {
        if (afterKey && keyOf(job) >= afterKey) continue;
        if (options.state && job.state !== options.state) continue;
        if (options.type && job.type !== options.type) continue;
        if (options.tenant && tenantOf(job) !== options.tenant) continue;
        out.push(job);
        if (out.length === options.limit) break;
      }
    }
    return out;
  }

  /** Ids of the queued or running jobs that use a dataset. */
  async activeOn(datasetId: string): Promise<string[]> {
    const active: string[] = [];
    for (const state of ["queued", "running"] as const) {
      const jobs = await this.list({ state, limit: 100_000 });
      for (const job of jobs) {
        if ((job.params as { datasetId?: string }).datasetId === datasetId) active.push(job.id);
      }
    }
    return active;
  }

  /** Asks a running job to stop. */
  async requestCancel(id: string): Promise<void> {
    await this.redis.set(`${this.key(id)}:cancel`, "1", "EX", CANCEL_FLAG_SECONDS);
  }

  /** Whether cancellation was requested. */
  async cancelRequested(id: string): Promise<boolean> {
    return (await this.redis.exists(`${this.key(id)}:cancel`)) === 1;
  }
}
