/**
 * The lock keeper renews BullMQ job locks from a thread of its own: a main thread blocked for several lock
 * durations keeps its jobs; a lock held by another token, a released lock, and the locks of a main thread
 * stuck past `maxBlockMs` lapse. Real Redis, real worker thread, a real synchronous block.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { LockKeeper } from "../../src/jobs/lock-keeper.js";
import { waitFor } from "../helpers/stack.js";

const URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
let redis: Redis;

before(() => {
  redis = new Redis(URL);
});
after(() => redis.quit());

/** Blocks the main thread (no timer, no I/O callback runs), as a long synchronous step does. */
function blockFor(ms: number): void {
  const end = Date.now() + ms;
  let spins = 0;
  while (Date.now() < end) spins++;
  assert.ok(spins > 0);
}

async function lock(token: string, ms = 1000): Promise<string> {
  const key = `test-lock-keeper:${randomUUID()}:lock`;
  await redis.set(key, token, "PX", ms);
  return key;
}

const gone = (key: string) =>
  waitFor(async () => ((await redis.exists(key)) === 0 ? true : undefined), 10_000, `${key} to lapse`);

test("a main thread blocked for 3 lock durations keeps its lock", async () => {
  const keeper = LockKeeper.start({ redisUrl: URL, lockMs: 1000 });
  try {
    const key = await lock("mine");
    keeper.hold(key, "mine");
    blockFor(3000);
    assert.equal(await redis.get(key), "mine");
    assert.ok((await redis.pttl(key)) > 0);
    keeper.release(key);
    await gone(key);
  } finally {
    await keeper.close();
  }
});

test("a lock of another token is never renewed; a main thread stuck past maxBlockMs lets its locks lapse", async () => {
  const keeper = LockKeeper.start({ redisUrl: URL, lockMs: 1000, maxBlockMs: 400 });
  try {
    const theirs = await lock("theirs");
    keeper.hold(theirs, "mine");
    await gone(theirs);

    const key = await lock("mine");
    keeper.hold(key, "mine");
    blockFor(2500);
    assert.equal(await redis.exists(key), 0, "the stuck main thread's lock lapsed");
  } finally {
    await keeper.close();
  }
});
