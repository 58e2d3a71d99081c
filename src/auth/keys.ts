import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Redis } from "ioredis";
import type { Scope } from "./tenant.js";

/** An API key as stored: never the secret, only its SHA-256. */
export interface ApiKeyRecord {
  id: string;
  tenant: string;
  scopes: Scope[];
  name: string;
  createdAt: string;
  /** SHA-256 (hex) of the key's secret part. */
  hash: string;
}

/** What the API shows of a key (no hash). */
export type ApiKeyInfo = Omit<ApiKeyRecord, "hash">;

const KEY_FORMAT = /^tls_(key_[0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** SHA-256 hex of a string. */
export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Whether two hex digests are equal, in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * API keys in Redis: one JSON value per key id (`<prefix>:tls:apikey:<id>`) and a sorted set of ids. A key
 * reads `tls_<id>_<secret>`: 256 random bits of secret, of which only the SHA-256 is stored.
 */
export class ApiKeyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:tls:apikey:${id}`;
  }

  private get indexKey(): string {
    return `${this.prefix}:tls:apikeys`;
  }

  /** Creates a key; the returned `key` is the only time its secret exists outside the caller. */
  async create(o: {
    tenant: string;
    scopes: Scope[];
    name: string;
  }): Promise<{ key: string; info: ApiKeyInfo }> {
    const id = `key_${randomBytes(8).toString("hex")}`;
    const secret = randomBytes(32).toString("base64url");
    const record: ApiKeyRecord = {
      id,
      tenant: o.tenant,
      scopes: [...new Set(o.scopes)],
      name: o.name,
      createdAt: new Date().toISOString(),
      hash: sha256(secret),
    };
    await this.redis
      .multi()
      .set(this.key(id), JSON.stringify(record))
      .zadd(this.indexKey, Date.parse(record.createdAt), id)
      .exec();
    const { hash: _, ...info } = record;
    return { key: `tls_${id}_${secret}`, info };
  }

  /** The stored key a presented key string matches, or undefined (unknown, revoked, malformed). */
  async verify(presented: string): Promise<ApiKeyRecord | undefined> {
    const m = KEY_FORMAT.exec(presented);
    if (!m) return undefined;
    const raw = await this.redis.get(this.key(m[1]));
    if (!raw) return undefined;
    const record = JSON.parse(raw) as ApiKeyRecord;
    return sameHash(record.hash, sha256(m[2])) ? record : undefined;
  }

  /** All keys, newest first, without their hashes. */
  async list(): Promise<ApiKeyInfo[]> {
    const ids = await this.redis.zrevrange(this.indexKey, 0, -1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.key(id)));
    return raws.flatMap((raw) => {
      if (!raw) return [];
      const { hash: _, ...info } = JSON.parse(raw) as ApiKeyRecord;
      return [info];
    });
  }

  /** Revokes a key; false when it does not exist. */
  async revoke(id: string): Promise<boolean> {
    const [[, removed]] = (await this.redis.multi().del(this.key(id)).zrem(this.indexKey, id).exec()) as [
      [unknown, number],
    ];
    return removed === 1;
  }

  /** Whether any stored key has the admin scope. */
  async hasAdmin(): Promise<boolean> {
    return (await this.list()).some((k) => k.scopes.includes("admin"));
  }

  /**
   * Creates the first admin key unless one exists or another API process is making it (SET NX marker):
   * returns the new key, to be shown once, or undefined.
   */
  async bootstrapAdmin(): Promise<string | undefined> {
    if (await this.hasAdmin()) return undefined;
    const claimed = await this.redis.set(`${this.prefix}:tls:apikeys:bootstrap`, "1", "NX");
    if (claimed !== "OK") return undefined;
    const { key } = await this.create({ tenant: "default", scopes: ["admin"], name: "first admin key" });
    return key;
  }
}
