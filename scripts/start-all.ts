/**
 * `npm start`: the API, one training worker and one predict worker, with working defaults. When REDIS_URL
 * is unset and nothing answers on 127.0.0.1:6379, starts a local redis-server (AOF on) under DATA_DIR.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { configOrExit } from "../src/lib/process.js";

const config = configOrExit();
const children: ChildProcess[] = [];
let redisServer: ChildProcess | undefined;

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, timeout: 500 });
    sock.once("connect", () => {
      sock.end();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
    sock.once("timeout", () => {
      sock.destroy();
      resolve(false);
    });
  });
}

async function ensureRedis(): Promise<void> {
  if (!config.redisUrlDefaulted || (await answers("127.0.0.1", 6379))) return;
  const dir = path.join(config.dataDir, "redis");
  await mkdir(dir, { recursive: true });
  const args = [
    "--port",
    "6379",
    "--bind",
    "127.0.0.1",
    "--appendonly",
    "yes",
    "--maxmemory-policy",
    "noeviction",
    "--dir",
    dir,
  ];
  // Its own process group: Ctrl-C must not stop Redis before the workers have handed their jobs back.
  const redis = spawn("redis-server", args, { stdio: ["ignore", "ignore", "inherit"], detached: true });
  redisServer = redis;
  redis.on("error", (err) => {
    process.stderr.write(
      `No Redis answers on 127.0.0.1:6379 and redis-server could not be started (${err.message}).\n` +
        "Install it (apt-get install redis-server) or set REDIS_URL to a running Redis.\n",
    );
    process.exit(1);
  });
  for (let i = 0; i < 50 && !(await answers("127.0.0.1", 6379)); i++)
    await new Promise((r) => setTimeout(r, 100));
  process.stdout.write(`started redis-server on 127.0.0.1:6379 (AOF on, data in ${dir})\n`);
}

function run(script: string): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: "inherit", env: process.env });
  child.on("exit", (code, signal) => {
    if (!stopping) {
      process.stderr.write(`${script} exited (${signal ?? code}); stopping everything\n`);
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
/** Drains the API and the workers (one SIGTERM each: an epoch in progress is checkpointed), then Redis. */
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill("SIGTERM");
  await Promise.all(children.map(exited));
  if (redisServer) {
    redisServer.kill("SIGTERM");
    await exited(redisServer);
  }
  process.exit(code);
}

function exited(c: ChildProcess): Promise<unknown> | undefined {
  return c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once("exit", r));
}

await ensureRedis();
run("src/server.ts");
run("workers/train.ts");
run("workers/predict.ts");
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
