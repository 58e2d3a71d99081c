/**
 * Writes the generated reference of docs/api.md from the app's OpenAPI document (`npm run docs:api`;
 * `--check` exits 1 instead when the file is out of date). Builds the app in-process; Redis is needed
 * only because the app's context connects to it.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { buildApp } from "../src/app.js";
import { createContext } from "../src/context.js";
import { configOrExit } from "../src/lib/process.js";
import { createLogger } from "../src/logger.js";
import { openQueues } from "../src/queues.js";
import { renderReference, withReference } from "./lib/api-reference.js";

const FILE = path.join(path.dirname(new URL(import.meta.url).pathname), "..", "docs", "api.md");

const config = configOrExit();
const ctx = createContext(config, createLogger("warn", "api-docs"));
const queues = openQueues(ctx.redis, config.QUEUE_PREFIX);
try {
  const app = await buildApp({ ctx, queues });
  await app.ready();
  const doc = app.swagger() as unknown as Record<string, unknown>;
  await app.close();
  const text = await readFile(FILE, "utf8");
  const next = withReference(text, renderReference(doc));
  if (process.argv.includes("--check")) {
    if (next !== text) {
      console.error("docs/api.md is out of date: run npm run docs:api");
      process.exitCode = 1;
    }
  } else {
    await writeFile(FILE, next);
    console.log(`wrote ${FILE}`);
  }
} finally {
  await queues.close();
  await ctx.close();
}
