/**
 * The dashboard's build for the browser tests: `npm run build:web` when web/dist is missing or older than
 * its sources, and the gzipped size of each built script.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { WEB_DIST } from "../../src/web/routes.js";

const WEB = path.dirname(WEB_DIST);
const ROOT = path.dirname(WEB);

/** The newest modification time (ms) of the files under `dir` (recursively). */
function newest(dir: string): number {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    max = Math.max(max, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return max;
}

/** Whether web/dist is missing or older than web/src, web/public, index.html, the config or the lockfile. */
export function webBuildStale(): boolean {
  const index = path.join(WEB_DIST, "index.html");
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  const sources = Math.max(
    newest(path.join(WEB, "src")),
    newest(path.join(WEB, "public")),
    ...["index.html", "vite.config.ts"].map((f) => statSync(path.join(WEB, f)).mtimeMs),
    statSync(path.join(ROOT, "package-lock.json")).mtimeMs,
  );
  return sources > built;
}

/** Runs `npm run build:web` when the build is stale; returns whether it built. */
export async function ensureWebBuild(): Promise<boolean> {
  if (!webBuildStale()) return false;
  await promisify(execFile)("npm", ["run", "build:web"], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  return true;
}

/** Each built script (web/dist/assets/*.js) with its size gzipped (level 9, as a server would send it). */
export function gzippedScripts(): { file: string; bytes: number; gzipped: number }[] {
  const dir = path.join(WEB_DIST, "assets");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".js"))
    .map((file) => {
      const data = readFileSync(path.join(dir, file));
      return { file, bytes: data.length, gzipped: gzipSync(data, { level: 9 }).length };
    });
}
