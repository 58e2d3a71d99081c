import assert from "node:assert/strict";
import { test } from "node:test";
import type { Progress } from "../../src/jobs/schemas.js";
import { JobProgress, ProgressReporter } from "../../src/training/progress.js";

test("progress writes are throttled, except the first report of each phase", async () => {
  const written: Progress[] = [];
  const reporter = new ProgressReporter(async (p) => {
    written.push(p);
  }, 60_000);
  const progress = new JobProgress(reporter);
  progress.report("extracting", 0.1, { step: 1, steps: 10 });
  progress.report("extracting", 0.5, { step: 5, steps: 10 });
  progress.report("training", 0.01, { epoch: 1, epochs: 5, step: 1, steps: 8 });
  progress.report("training", 0.2, { epoch: 1, epochs: 5, step: 8, steps: 8 });
  await reporter.flush();
  assert.deepEqual(
    written.map((p) => [p.phase, p.step]),
    [
      ["extracting", 1],
      ["training", 1],
    ],
    "within the interval only phase changes are written",
  );
  assert.ok(written[1].percent > written[0].percent);
});
