import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import { finishDocument } from "../../src/http/openapi.js";
import { type Stack, startStack } from "../helpers/stack.js";

// biome-ignore lint/suspicious/noExplicitAny: walks a parsed JSON document
type Json = Record<string, any>;

const METHODS = ["get", "post", "put", "patch", "delete"];

/** Every operation of the document, with its method and path. */
function operations(doc: Json): { method: string; path: string; op: Json }[] {
  return Object.entries(doc.paths as Json).flatMap(([p, item]) =>
    Object.entries(item as Json)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ method, path: p, op: op as Json })),
  );
}

/** Follows a local `$ref` (components only). */
function deref(doc: Json, node: Json): Json {
  if (typeof node.$ref !== "string") return node;
  const [, , section, name] = node.$ref.split("/");
  const target = doc.components?.[section]?.[name];
  assert.ok(target, `dangling ${node.$ref}`);
  return target;
}

describe("the OpenAPI document", () => {
  let stack: Stack;
  let doc: Json;
  let source: string;

  before(async () => {
    stack = await startStack({}, { ingest: false });
    const res = await stack.app.inject({ method: "GET", url: "/openapi.json" });
    assert.equal(res.statusCode, 200);
    source = res.body;
    doc = JSON.parse(source);
  });
  after(() => stack.close());

  it("is OpenAPI 3.1: every operation has a unique operationId, a summary, a tag and described responses", () => {
    assert.equal(doc.openapi, "3.1.0");
    const ids = new Set<string>();
    for (const { method, path, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      assert.match(op.operationId ?? "", /^[a-z][A-Za-z]+$/, `${where}: operationId`);
      assert.ok(!ids.has(op.operationId), `${where}: operationId ${op.operationId} is used twice`);
      ids.add(op.operationId);
      assert.ok(op.summary?.length > 5, `${where}: summary`);
      assert.equal(op.tags?.length, 1, `${where}: tag`);
      for (const [status, response] of Object.entries(op.responses as Json)) {
        assert.ok(response.description && response.description !== "Default Response", `${where} ${status}`);
      }
    }
    assert.ok(ids.size >= 19, `${ids.size} operations`);
  });

  it("passes Redocly's recommended rules without an error", async () => {
    const config = await createConfig({ extends: ["recommended"] });
    const problems = await lintFromString({ source, absoluteRef: "openapi.json", config });
    const errors = problems.filter((p) => p.severity === "error");
    assert.deepEqual(
      errors.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`),
      [],
    );
  });

  it("names its schemas: responses refer to components, and every $ref resolves", () => {
    const schemas = Object.keys(doc.components.schemas);
    for (const name of ["Dataset", "DatasetReport", "Job", "Model", "Error", "JobPage", "PredictOne"]) {
      assert.ok(schemas.includes(name), `component ${name}`);
    }
    const getJob = doc.paths["/v1/jobs/{id}"].get.responses;
    assert.equal(getJob["200"].content["application/json"].schema.$ref, "#/components/schemas/Job");
    assert.equal(getJob["404"].content["application/json"].schema.$ref, "#/components/schemas/Error");
    const refs = source.match(/"\$ref":"[^"]+"/g) ?? [];
    assert.ok(refs.length > 40, `${refs.length} references`);
    for (const ref of refs) deref(doc, { $ref: ref.slice(8, -1) });
  });

  it("fields with a default are optional in request bodies and query strings", () => {
    const body = deref(doc, doc.paths["/v1/jobs"].post.requestBody);
    const train = body.content["application/json"].schema;
    assert.deepEqual(train.required, ["datasetId"]);
    assert.equal(train.properties.epochs.default, 10);
    const query = doc.paths["/v1/models/{id}/predict"].post.parameters;
    const topK = query.find((p: Json) => p.name === "topK");
    assert.equal(topK.required, false);
    assert.equal(topK.schema.default, 5);
    assert.equal(query.find((p: Json) => p.name === "id").required, true);
    assert.equal(train.properties.learningRate.exclusiveMinimum, 0, "a 3.1 numeric exclusiveMinimum");
  });

  it("describes the multipart upload and the raw and multipart predict bodies", () => {
    const upload = deref(doc, doc.paths["/v1/datasets"].post.requestBody);
    const form = upload.content["multipart/form-data"].schema;
    assert.deepEqual(form.required, ["file"]);
    assert.equal(form.properties.file.format, "binary");
    const predict = doc.paths["/v1/models/{id}/predict"].post.requestBody.content;
    for (const type of ["image/jpeg", "image/png", "image/webp"])
      assert.equal(predict[type].schema.format, "binary");
    assert.equal(predict["multipart/form-data"].schema.properties.image.items.format, "binary");
    const image = doc.paths["/v1/datasets/{id}/images/{path}"].get;
    assert.deepEqual(
      image.parameters.map((p: Json) => p.name),
      ["id", "path"],
    );
    assert.ok(image.responses["200"].content["image/png"], "served as an image");
    assert.equal(doc.paths["/v1/models/{id}"].delete.responses["204"].content, undefined, "204 has no body");
  });

  it("refuses two different schemas under one title", () => {
    const ok = (title: string, type: string) => ({
      content: { "application/json": { schema: { title, type } } },
      description: "OK",
    });
    const twoTitles = {
      paths: {
        "/a": { get: { responses: { 200: ok("Thing", "string") } } },
        "/b": { get: { responses: { 200: ok("Thing", "number") } } },
      },
    };
    assert.throws(() => finishDocument(twoTitles), /two different schemas are titled 'Thing'/);
    const same = {
      paths: {
        "/a": { get: { responses: { 200: ok("Thing", "string") } } },
        "/b": { get: { responses: { 200: ok("Thing", "string") } } },
      },
    };
    const done = finishDocument(same) as Json;
    assert.deepEqual(Object.keys(done.components.schemas), ["Thing"]);
  });
});
