// The thread of lock-keeper.ts: renews the BullMQ locks of the jobs its process holds, every `everyMs`,
// while the process lives and its main thread has ticked within `maxBlockMs`. Plain JavaScript, like
// onnx-worker.mjs: tsx's --import hook does not reach worker threads.
import { parentPort, workerData } from "node:worker_threads";
import { Redis } from "ioredis";

const { redisUrl, ttlMs, everyMs, maxBlockMs, tick } = workerData;
const lastTick = new BigInt64Array(tick);
const EXTEND = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return 0`;

const redis = new Redis(redisUrl, {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: everyMs,
  connectionName: "tls-lock-keeper",
});
redis.on("error", () => undefined);

/** Lock key -> token of the attempt that holds it. */
const held = new Map();

parentPort.on("message", (m) => {
  if (m.type === "hold") held.set(m.key, m.token);
  else if (m.type === "release") held.delete(m.key);
  else if (m.type === "stop") {
    clearInterval(timer);
    redis.disconnect();
    parentPort.close();
  }
});

async function renew() {
  if (Date.now() - Number(Atomics.load(lastTick, 0)) > maxBlockMs) return;
  for (const [key, token] of held) {
    try {
      if (Number(await redis.eval(EXTEND, 1, key, token, ttlMs)) === 0) held.delete(key);
    } catch {
      // Redis away: the lock lapses unless it comes back in time, as without this thread.
    }
  }
}

let running = false;
const timer = setInterval(() => {
  if (running) return;
  running = true;
  renew().finally(() => {
    running = false;
  });
}, everyMs);
