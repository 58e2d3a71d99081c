/**
 * The dashboard's pure helpers, in Node: the event-stream parser (chunks split anywhere, comments, multi-line
 * data), the job form's body (sweep, early stopping off) and the chart's ticks.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { parseEvents, type ServerEvent } from "../../web/src/api/sse-parse.js";
import { ticks } from "../../web/src/components/chart-ticks.js";
import { DEFAULT_FORM, jobBody, parseList, sweepOf } from "../../web/src/pages/jobs/job-form-model.js";

it("parses Server-Sent Events split across chunks anywhere", () => {
  const stream =
    ': keep-alive\n\nevent: progress\ndata: {"id":"job_1",\ndata: "state":"running"}\n\n' +
    'event: end\r\ndata: {"state":"completed"}\r\n\r\nevent: progress\ndata: {"partial"';
  for (let cut = 0; cut <= stream.length; cut++) {
    const events: ServerEvent[] = [];
    let rest = "";
    for (const chunk of [stream.slice(0, cut), stream.slice(cut)]) {
      const parsed = parseEvents(rest, chunk);
      events.push(...parsed.events);
      rest = parsed.rest;
    }
    assert.deepEqual(
      events.map((e) => [e.event, e.data]),
      [
        ["progress", '{"id":"job_1",\n"state":"running"}'],
        ["end", '{"state":"completed"}'],
      ],
      `cut at ${cut}`,
    );
    assert.equal(rest, 'event: progress\ndata: {"partial"');
  }
});

it("turns the job form into a POST /v1/jobs body, with a sweep and early stopping off", () => {
  const body = jobBody({
    ...DEFAULT_FORM,
    datasetId: "ds_1",
    epochs: "20",
    batchSize: "2",
    earlyStopping: false,
    sweepLearningRate: "0.001, 0.003",
    sweepHiddenUnits: "256 512",
  });
  assert.deepEqual(body, {
    datasetId: "ds_1",
    epochs: 20,
    batchSize: 2,
    learningRate: 0.001,
    hiddenUnits: 256,
    dropout: 0.2,
    augment: false,
    earlyStopping: null,
    sweep: { learningRate: [0.001, 0.003], hiddenUnits: [256, 512] },
  });
  assert.equal(
    sweepOf({ ...DEFAULT_FORM, sweepDropout: "0.1,0.2,0.3", sweepHiddenUnits: "64,128" }).combinations,
    6,
  );
  assert.equal("sweep" in jobBody({ ...DEFAULT_FORM, datasetId: "ds_1" }), false);
  assert.throws(() => parseList("0.1, abc", "Sweep dropouts"), /Sweep dropouts: 'abc' is not a number/);
});

it("puts chart ticks on round values", () => {
  assert.deepEqual(ticks(0, 1, 4), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(ticks(1, 60, 8), [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(ticks(0, 0.07, 4), [0, 0.02, 0.04, 0.06]);
});
