import { UnprocessableError } from "../errors.js";
import type { Sweep, TrainParams } from "../jobs/schemas.js";

/** The most head configurations one sweep may train. */
export const MAX_SWEEP_CONFIGS = 64;

/** The hyperparameters a sweep can vary, and so what one head configuration holds. */
export type HeadConfig = Pick<
  TrainParams,
  "learningRate" | "hiddenUnits" | "dropout" | "epochs" | "batchSize" | "labelSmoothing"
>;

const KEYS = ["learningRate", "hiddenUnits", "dropout", "epochs", "batchSize", "labelSmoothing"] as const;

/**
 * Every combination of the swept values (the job's own value for the others), in a fixed order: the first
 * key of the sweep varies slowest. Without a sweep, the job's parameters alone.
 *
 * @throws UnprocessableError (422 SWEEP_TOO_LARGE) over {@link MAX_SWEEP_CONFIGS} combinations.
 */
export function sweepConfigs(params: TrainParams): HeadConfig[] {
  const base: HeadConfig = Object.fromEntries(KEYS.map((k) => [k, params[k]])) as HeadConfig;
  const sweep: Sweep = params.sweep ?? {};
  const varied = KEYS.filter((k) => (sweep[k]?.length ?? 0) > 0);
  const total = varied.reduce((n, k) => n * new Set(sweep[k]).size, 1);
  if (total > MAX_SWEEP_CONFIGS) {
    throw new UnprocessableError(
      `the sweep has ${total} combinations, at most ${MAX_SWEEP_CONFIGS} are allowed`,
      "SWEEP_TOO_LARGE",
    );
  }
  let configs: HeadConfig[] = [base];
  for (const key of varied) {
    const vals = [...new Set(sweep[key]!)];
    configs = configs.flatMap((c) => vals.map((v) => ({ ...c, [key]: v })));
  }
  return configs;
}

/** The swept keys of a configuration, for the leaderboard (`{}` without a sweep). */
export function sweptParams(params: TrainParams, config: HeadConfig): Partial<HeadConfig> {
  const sweep: Sweep = params.sweep ?? {};
  return Object.fromEntries(KEYS.filter((k) => (sweep[k]?.length ?? 0) > 0).map((k) => [k, config[k]]));
}
