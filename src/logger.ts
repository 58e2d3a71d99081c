import { type Logger, pino } from "pino";

/** Creates the process logger: pino JSON on stdout. */
export function createLogger(level: string, name?: string): Logger {
  return pino({ level, name, base: { pid: process.pid } });
}

export type { Logger };
