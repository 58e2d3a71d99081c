import { execFile } from "node:child_process";

/** One sample of the Prometheus text format: its full name (`_bucket`, `_sum`, `_count` included). */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family: name, type and samples. */
export interface Family {
  name: string;
  type: string;
  samples: Sample[];
}

const PARSER = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = [{"name": f.name, "type": f.type, "samples": [{"name": s.name, "labels": s.labels, "value": s.value}
       for s in f.samples]} for f in text_string_to_metric_families(sys.stdin.read())]
print(json.dumps(out))
`;

/**
 * Parses Prometheus text with the official Python client's parser (Debian's python3-prometheus-client,
 * installed by .ci/run); rejects on text it cannot parse.
 */
export function parsePrometheus(text: string): Promise<Family[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "/usr/bin/python3",
      ["-c", PARSER],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`the Prometheus parser refused the text: ${stderr || err.message}`));
        else resolve(JSON.parse(stdout) as Family[]);
      },
    );
    child.stdin?.end(text);
  });
}

/** The sum of the values of the samples called `name` whose labels include `labels`. */
export function sampleSum(families: Family[], name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const f of families) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
  }
  return total;
}
