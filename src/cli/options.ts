import { UsageError } from "./errors.js";

/** Where the CLI talks to when neither `--url` nor `TRANSFER_URL` says otherwise. */
export const DEFAULT_URL = "http://127.0.0.1:3000";

/** Everything the CLI takes from its environment. It is read once, here, and nowhere else. */
export interface CliEnvironment {
  /** `TRANSFER_URL`. */
  url?: string;
  /** `TRANSFER_API_KEY`. */
  key?: string;
  /** `NO_COLOR` set to anything but the empty string (https://no-color.org). */
  noColor: boolean;
  /** `TERM=dumb`: the terminal cannot move its cursor, so no bars. */
  dumbTerminal: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
}

/** Reads the CLI's environment variables and what its output streams are. */
export function readEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  streams: { stdout: { isTTY?: boolean }; stderr: { isTTY?: boolean } } = process,
): CliEnvironment {
  const nonEmpty = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v.trim());
  return {
    url: nonEmpty(env.TRANSFER_URL),
    key: nonEmpty(env.TRANSFER_API_KEY),
    noColor: nonEmpty(env.NO_COLOR) !== undefined,
    dumbTerminal: env.TERM === "dumb",
    stdoutIsTTY: streams.stdout.isTTY === true,
    stderrIsTTY: streams.stderr.isTTY === true,
  };
}

/** The global options as commander parsed them. */
export interface GlobalOptions {
  url?: string;
  key?: string;
  json?: boolean;
}

/** What every command runs with: the server, the key, and how to write output. */
export interface Settings {
  baseUrl: URL;
  key?: string;
  json: boolean;
  /** Progress bars on stderr: only when stderr is a terminal that can draw them, and not `--json`. */
  bars: boolean;
  /** ANSI colours: as bars, and not with `NO_COLOR`. */
  color: boolean;
  stdoutIsTTY: boolean;
}

/** Combines the global options with the environment; `--url` and `--key` win over the variables. */
export function resolveSettings(opts: GlobalOptions, env: CliEnvironment): Settings {
  const raw = opts.url ?? env.url ?? DEFAULT_URL;
  let baseUrl: URL;
  try {
    baseUrl = new URL(raw);
  } catch {
    throw new UsageError(`--url: '${raw}' is not a URL (expected e.g. ${DEFAULT_URL})`);
  }
  if (baseUrl.protocol !== "http:" && baseUrl.protocol !== "https:") {
    throw new UsageError(`--url: '${raw}' is not an http:// or https:// URL`);
  }
  const json = opts.json === true;
  const bars = !json && env.stderrIsTTY && !env.dumbTerminal;
  return {
    baseUrl,
    key: opts.key?.trim() || env.key,
    json,
    bars,
    color: bars && !env.noColor,
    stdoutIsTTY: env.stdoutIsTTY,
  };
}
