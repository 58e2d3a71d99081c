import { type Config, ConfigError, loadConfig } from "../config.js";

/** Loads the config or exits with the list of bad variables. */
export function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/**
 * Runs `shutdown` once on SIGTERM or SIGINT, then exits; a second signal exits at once.
 * Returns a function that runs the same shutdown programmatically.
 */
export function onShutdown(
  shutdown: (signal: string) => Promise<void>,
  log: (msg: string) => void,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  let first: string | undefined;
  const run = (signal: string) => {
    if (running) {
      // Ctrl-C on `npm start` reaches every process as SIGINT, then `npm start` sends SIGTERM: one request.
      if (signal !== first) {
        log(`${signal} while shutting down after ${first}: still draining (send ${first} again to exit now)`);
        return running;
      }
      log(`${signal} again: exiting now`);
      process.exit(1);
    }
    first = signal;
    log(`${signal}: shutting down`);
    running = shutdown(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
    return running;
  };
  process.on("SIGTERM", () => void run("SIGTERM"));
  process.on("SIGINT", () => void run("SIGINT"));
  return () => run("shutdown");
}
