/**
 * Logs: JSON lines when stdout is a pipe or a file, pino-pretty's lines on a terminal (a real pseudo-TTY
 * from util-linux `script`), JSON on a terminal too with LOG_FORMAT=json; the job id is in both.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");
const program = (format: string) =>
  `import { createLogger } from "./src/logger.ts"; createLogger("info", "api", "${format}").info({ jobId: "job_1" }, "epoch done");`;

async function logged(format: string, tty: boolean): Promise<string> {
  const node = [process.execPath, "--import", "tsx", "--input-type=module", "-e", program(format)];
  const quoted = node.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const { stdout } = tty
    ? await run("script", ["-qfec", quoted, "/dev/null"], { cwd: ROOT })
    : await run(node[0], node.slice(1), { cwd: ROOT });
  return stdout.trim();
}

test("JSON through a pipe, pretty on a terminal, JSON on a terminal with LOG_FORMAT=json", {
  timeout: 60_000,
}, async () => {
  const piped = JSON.parse(await logged("auto", false));
  assert.equal(piped.msg, "epoch done");
  assert.equal(piped.jobId, "job_1");
  assert.equal(piped.name, "api");

  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the terminal's colour codes
  const terminal = (await logged("auto", true)).replace(/\x1b\[[0-9;]*m/g, "");
  assert.ok(!terminal.startsWith("{"), terminal);
  assert.match(terminal, /INFO/);
  assert.match(terminal, /\(api\)/);
  assert.match(terminal, /epoch done/);
  assert.match(terminal, /jobId: "job_1"/);

  const forced = JSON.parse((await logged("json", true)).replace(/\r/g, ""));
  assert.equal(forced.jobId, "job_1");
});
