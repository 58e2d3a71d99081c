import { type Command, InvalidArgumentError } from "commander";
import { Api } from "./api.js";
import type { Settings } from "./options.js";
import type { Output } from "./output.js";

/** What a command's action works with: the API client, the output, and the settings behind both. */
export interface Runtime {
  api: Api;
  out: Output;
  settings: Settings;
}

/** Builds the runtime of a command from its global options (`--url`, `--key`, `--json`). */
export type RuntimeOf = (cmd: Command) => Runtime;

/** A new API client for `settings`. */
export function apiFor(settings: Settings, version: string): Api {
  return new Api(settings.baseUrl, settings.key, `transfer-cli/${version}`);
}

/** Commander parser of an integer option within [min, max]. */
export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
      throw new InvalidArgumentError("not an integer");
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

/** Commander parser of a number option within [min, max] (`exclusiveMin`: above min). */
export function numberArg(min: number, max: number, exclusiveMin = false) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("not a number");
    if (exclusiveMin ? n <= min : n < min) {
      throw new InvalidArgumentError(`must be ${exclusiveMin ? "above" : "at least"} ${min}`);
    }
    if (n > max) throw new InvalidArgumentError(`must be at most ${max}`);
    return n;
  };
}

/** Path segment of an id (ids are opaque: encoded so that one can never leave its route). */
export function seg(id: string): string {
  return encodeURIComponent(id);
}
