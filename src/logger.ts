import { type Logger, pino } from "pino";
import pretty from "pino-pretty";

/** `json`: one JSON object per line; `pretty`: coloured lines for people; `auto`: pretty on a terminal. */
export type LogFormat = "auto" | "json" | "pretty";

/**
 * Creates the process logger: pino JSON on stdout, or pino-pretty's lines when `format` asks for them (by
 * default when stdout is a terminal, as under `npm start`; never when it is a pipe or a file).
 */
export function createLogger(level: string, name?: string, format: LogFormat = "auto"): Logger {
  const options = { level, name, base: { pid: process.pid } };
  const human = format === "pretty" || (format === "auto" && process.stdout.isTTY === true);
  if (!human) return pino(options);
  return pino(options, pretty({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" }));
}

export type { Logger };
