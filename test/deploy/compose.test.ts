import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const INSTALL_HINT =
  "docker-compose is not installed: install the Debian package " +
  "(apt-get update && apt-get install -y --no-install-recommends docker-compose); .ci/run does this";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs docker-compose; fails the test (never skips) when the command is missing. */
function dockerCompose(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      "docker-compose",
      args,
      { cwd: ROOT, env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
          reject(new assert.AssertionError({ message: INSTALL_HINT }));
          return;
        }
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const indentOf = (line: string): number => line.length - line.trimStart().length;
const unquote = (s: string): string => s.trim().replace(/^(['"])(.*)\1$/, "$2");

/** Splits the normalized `config` output into one text block per service. */
function serviceBlocks(yaml: string): Map<string, string> {
  const lines = yaml.split("\n");
  const start = lines.indexOf("services:");
  assert.notEqual(start, -1, `no top-level 'services:' in:\n${yaml}`);
  const blocks = new Map<string, string>();
  let name: string | undefined;
  let body: string[] = [];
  let serviceIndent = -1;
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === "") continue;
    const indent = indentOf(line);
    if (indent === 0) break;
    const header = /^\s+([A-Za-z0-9._-]+):\s*$/.exec(line);
    if (header && (serviceIndent === -1 || indent === serviceIndent)) {
      if (name) blocks.set(name, body.join("\n"));
      serviceIndent = indent;
      name = header[1];
      body = [];
    } else {
      body.push(line);
    }
  }
  if (name) blocks.set(name, body.join("\n"));
  return blocks;
}

/** The items of the first list found under `key:` (at any depth) in a block. */
function listUnder(block: string, key: string): string[] {
  const lines = block.split("\n");
  const at = lines.findIndex((l) => l.trim() === `${key}:` || l.trim() === `- ${key}:`);
  if (at === -1) return [];
  // `- key:` opens a mapping inside a list: its keys sit two columns right of the dash.
  const keyIndent = indentOf(lines[at]) + (lines[at].trimStart().startsWith("- ") ? 2 : 0);
  const items: string[] = [];
  for (const line of lines.slice(at + 1)) {
    const indent = indentOf(line);
    const isItem = line.trimStart().startsWith("- ");
    if (indent < keyIndent || (indent === keyIndent && !isItem)) break;
    if (isItem) items.push(unquote(line.trimStart().slice(2)));
  }
  return items;
}

/** `key: value` somewhere in a block, quotes ignored. */
function hasEntry(block: string, key: string, value: string): boolean {
  return block.split("\n").some((l) => {
    const m = /^\s*(?:- )?([^:\s]+):\s*(.*)$/.exec(l);
    return m !== null && m[1] === key && unquote(m[2]) === value;
  });
}

function assertSubsequence(list: string[], seq: string[], what: string): void {
  const ok = list.some((_, i) => seq.every((s, j) => list[i + j] === s));
  assert.ok(ok, `${what}: expected ${JSON.stringify(seq)} in ${JSON.stringify(list)}`);
}

describe("docker-compose.yml", () => {
  let tmp: string | undefined;
  let parsed: Promise<{ normalized: string; services: Map<string, string> }> | undefined;

  /**
   * `docker-compose config`, run once and shared; each test awaits it, so a missing docker-compose
   * fails every test with the install hint instead of cancelling them.
   */
  const config = () => {
    parsed ??= (async () => {
      // Interpolate with defaults only: no .env file, no API_PORT/LOG_LEVEL/... from the caller.
      tmp = await mkdtemp(path.join(os.tmpdir(), "compose-test-"));
      const envFile = path.join(tmp, "empty.env");
      await writeFile(envFile, "");
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME ?? tmp,
        LANG: "C.UTF-8",
        LC_ALL: "C.UTF-8",
      };
      const run = await dockerCompose(["--env-file", envFile, "-f", "docker-compose.yml", "config"], env);
      assert.equal(run.code, 0, `docker-compose config failed (exit ${run.code}):\n${run.stderr}`);
      return { normalized: run.stdout, services: serviceBlocks(run.stdout) };
    })();
    return parsed;
  };

  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const service = async (name: string): Promise<string> => {
    const { services } = await config();
    const block = services.get(name);
    assert.ok(block !== undefined, `service '${name}' missing; have ${[...services.keys()].join(", ")}`);
    return block;
  };

  test("`docker-compose config` accepts the file", async () => {
    await config();
  });

  test("declares redis, api, worker, predict-worker and worker-gpu", async () => {
    for (const name of ["redis", "api", "worker", "predict-worker", "worker-gpu"]) await service(name);
  });

  test("redis keeps every key (AOF on, noeviction) and has a ping healthcheck", async () => {
    const redis = await service("redis");
    assert.match(redis, /^\s+image: redis:7/m);
    const command = listUnder(redis, "command");
    assertSubsequence(command, ["--appendonly", "yes"], "redis command");
    assertSubsequence(command, ["--maxmemory-policy", "noeviction"], "redis command");
    assertSubsequence(listUnder(redis, "test"), ["redis-cli", "ping"], "redis healthcheck");
    assert.ok(
      listUnder(redis, "volumes").some((v) => /^[\w-]+:\/data(:rw)?$/.test(v)),
      "redis data should live on a named volume",
    );
  });

  test("api: cpu image, start:api, port 3000, listens on 0.0.0.0, waits for healthy redis", async () => {
    const api = await service("api");
    assert.deepEqual(listUnder(api, "command"), ["npm", "run", "start:api"]);
    assert.ok(hasEntry(api, "target", "cpu"), "api should build the cpu target");
    assert.ok(hasEntry(api, "target", "3000"), "api should publish container port 3000");
    assert.ok(hasEntry(api, "HOST", "0.0.0.0"));
    assert.ok(hasEntry(api, "REDIS_URL", "redis://redis:6379"));
    assert.ok(hasEntry(api, "condition", "service_healthy"), "api should wait for a healthy redis");
    assert.match(api, /\/healthz/);
  });

  test("worker and predict-worker run the cpu image; worker is scalable", async () => {
    const worker = await service("worker");
    assert.deepEqual(listUnder(worker, "command"), ["npm", "run", "start:worker"]);
    assert.ok(hasEntry(worker, "target", "cpu"));
    assert.doesNotMatch(worker, /container_name:|ports:/, "a scaled service can't have a fixed name/port");
    const predict = await service("predict-worker");
    assert.deepEqual(listUnder(predict, "command"), ["npm", "run", "start:predict-worker"]);
    assert.ok(hasEntry(predict, "target", "cpu"));
    for (const block of [worker, predict]) {
      assert.ok(hasEntry(block, "REDIS_URL", "redis://redis:6379"));
      assert.ok(hasEntry(block, "condition", "service_healthy"));
    }
  });

  test("worker-gpu reserves one NVIDIA GPU, runs the gpu image, only under the gpu profile", async () => {
    const gpu = await service("worker-gpu");
    assert.deepEqual(listUnder(gpu, "command"), ["npm", "run", "start:worker"]);
    assert.ok(hasEntry(gpu, "target", "gpu"), "worker-gpu should build the gpu target");
    assert.deepEqual(listUnder(gpu, "profiles"), ["gpu"]);
    assert.ok(hasEntry(gpu, "EXECUTION_PROVIDER", "cuda"));
    assert.match(gpu, /^\s+deploy:\n\s+resources:\n\s+reservations:\n\s+devices:/m);
    assert.ok(hasEntry(gpu, "driver", "nvidia"), "device driver should be nvidia");
    assert.ok(hasEntry(gpu, "count", "1"), "exactly one device");
    assert.deepEqual(listUnder(gpu, "capabilities"), ["gpu"]);
  });

  test("every app service shares one named data volume at /data", async () => {
    for (const name of ["api", "worker", "predict-worker", "worker-gpu"]) {
      const block = await service(name);
      assert.ok(hasEntry(block, "DATA_DIR", "/data"), `${name}: DATA_DIR`);
      const vols = listUnder(block, "volumes");
      assert.ok(
        vols.some((v) => /^data:\/data(:rw)?$/.test(v)),
        `${name} should mount the 'data' volume: ${vols}`,
      );
    }
    assert.match((await config()).normalized, /^volumes:\n(?:\s+.*\n)*?\s+data:/m);
  });
});

interface Stage {
  from: string;
  name?: string;
  body: string;
}

/** Build stages of a Dockerfile, with line continuations joined and comments dropped. */
function dockerStages(text: string): Stage[] {
  const logical = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .filter((l) => !/^\s*#/.test(l));
  const stages: Stage[] = [];
  for (const line of logical) {
    const from = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(line);
    if (from) stages.push({ from: from[1], name: from[2]?.toLowerCase(), body: "" });
    else if (stages.length > 0) stages[stages.length - 1].body += `${line}\n`;
  }
  return stages;
}

describe("Dockerfile", () => {
  let stages: Stage[];

  before(async () => {
    stages = dockerStages(await readFile(path.join(ROOT, "Dockerfile"), "utf8"));
  });

  /** The stage's own instructions plus those of the stages it builds FROM. */
  const effective = (name: string): string => {
    let stage = stages.find((s) => s.name === name);
    assert.ok(stage, `no 'FROM ... AS ${name}' stage; have ${stages.map((s) => s.name).join(", ")}`);
    let body = "";
    while (stage) {
      body = stage.body + body;
      const parent: string = stage.from.toLowerCase();
      stage = stages.find((s) => s.name === parent);
    }
    return body;
  };

  test("has cpu and gpu targets, cpu being the default (last) stage or an empty alias of it", () => {
    const names = stages.map((s) => s.name);
    assert.ok(names.includes("cpu"), "missing FROM ... AS cpu");
    assert.ok(names.includes("gpu"), "missing FROM ... AS gpu");
    const last = stages[stages.length - 1];
    assert.ok(
      last.name === "cpu" || (last.from.toLowerCase() === "cpu" && last.body.trim() === ""),
      "a plain `docker build .` should give the cpu image",
    );
  });

  test("puts the cpu stage before the gpu ones, so a classic `--target cpu` build never reaches them", () => {
    const cpu = stages.findIndex((s) => s.name === "cpu");
    const cuda = stages.findIndex((s) => /cuda/i.test(s.from) || s.name === "gpu");
    assert.ok(cpu >= 0 && cuda > cpu, `cpu is stage ${cpu}, the first CUDA/gpu stage is ${cuda}`);
  });

  test("cpu skips the onnxruntime download and uses the CPU provider", () => {
    const cpu = effective("cpu");
    assert.match(cpu, /ONNXRUNTIME_NODE_INSTALL=skip/);
    assert.match(cpu, /EXECUTION_PROVIDER=cpu/);
    assert.match(cpu, /\bnpm ci\b/);
  });

  test("gpu is a CUDA image that installs the CUDA 12 provider", () => {
    const gpu = stages.find((s) => s.name === "gpu")!;
    const body = effective("gpu");
    assert.match(`${gpu.from}\n${body}`, /cuda/i);
    assert.match(body, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
    assert.match(body, /EXECUTION_PROVIDER=cuda\b/);
    assert.match(body, /\bnpm ci\b/);
  });

  test("both targets run unprivileged on /data, listen on 0.0.0.0 and probe /healthz", () => {
    for (const name of ["cpu", "gpu"]) {
      const body = effective(name);
      const users = [...body.matchAll(/^\s*USER\s+(\S+)/gim)].map((m) => m[1]);
      assert.ok(users.length > 0, `${name}: no USER`);
      assert.ok(!/^(root|0)(:|$)/.test(users[users.length - 1]), `${name}: runs as root`);
      assert.match(body, /DATA_DIR=\/data/, `${name}: DATA_DIR`);
      assert.match(body, /HOST=0\.0\.0\.0/, `${name}: HOST`);
      assert.match(body, /^\s*HEALTHCHECK\b.*\/healthz/m, `${name}: HEALTHCHECK`);
    }
  });
});

test(".dockerignore keeps the host's node_modules and data out of the build context", async () => {
  const lines = (await readFile(path.join(ROOT, ".dockerignore"), "utf8"))
    .split(/\r?\n/)
    .map((l) => l.trim());
  assert.ok(lines.includes("node_modules"), "node_modules should be ignored");
  assert.ok(lines.includes("data"), "data should be ignored");
});
