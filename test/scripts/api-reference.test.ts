import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BEGIN, END, renderReference, withReference } from "../../scripts/lib/api-reference.js";
import { type Stack, startStack } from "../helpers/stack.js";

const DOC = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "docs", "api.md");

describe("docs/api.md", () => {
  let stack: Stack;
  let openapi: Record<string, unknown>;

  before(async () => {
    stack = await startStack({}, { ingest: false });
    const res = await stack.app.inject({ method: "GET", url: "/openapi.json" });
    openapi = JSON.parse(res.body);
  });
  after(() => stack.close());

  it("carries the reference generated from /openapi.json (run npm run docs:api after changing a route)", async () => {
    const text = await readFile(DOC, "utf8");
    assert.equal(withReference(text, renderReference(openapi)), text);
  });

  it("documents every operation and every named schema", async () => {
    const text = await readFile(DOC, "utf8");
    const paths = openapi.paths as Record<string, Record<string, { operationId: string }>>;
    for (const [p, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        assert.ok(
          text.includes(`#### \`${method.toUpperCase()} ${p}\` (${op.operationId})`),
          `${method} ${p}`,
        );
      }
    }
    const schemas = (openapi.components as { schemas: Record<string, unknown> }).schemas;
    for (const name of Object.keys(schemas)) assert.ok(text.includes(`#### ${name}\n`), name);
  });

  it("a stale reference is replaced, and a file without the markers is refused", () => {
    const stale = `# x\n\n${BEGIN}\n\nold\n\n${END}\n`;
    assert.equal(withReference(stale, "new"), `# x\n\n${BEGIN}\n\nnew\n\n${END}\n`);
    assert.throws(() => withReference("# x\n", "new"), /markers/);
  });
});
