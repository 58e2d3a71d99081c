import type { Context } from "../context.js";
import type { Logger } from "../logger.js";
import { authEnabled } from "./plugin.js";

/**
 * With API keys on and no ADMIN_API_KEY: creates the first admin key when no admin key exists (one API
 * process of many does, by a Redis SET NX) and prints it once in the log, the only time a key is logged.
 * Failing (Redis away at start) is logged and left to the next start.
 */
export async function ensureFirstAdminKey(ctx: Context, logger: Logger): Promise<void> {
  if (!authEnabled(ctx.config)) return;
  if (ctx.config.ADMIN_API_KEY) {
    logger.info("API keys are on; ADMIN_API_KEY is the admin key");
    return;
  }
  try {
    const key = await ctx.keys.bootstrapAdmin();
    if (key) {
      logger.warn(
        { adminKey: key },
        "API keys are on: this is the first admin key, shown once; keep it (Authorization: Bearer <key>)",
      );
    } else {
      logger.info("API keys are on; an admin key exists");
    }
  } catch (err) {
    logger.error(
      { err: (err as Error).message },
      "could not check for an admin key (Redis?); retry by restarting",
    );
  }
}
