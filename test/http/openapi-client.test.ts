import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";
import { photo, photoDatasetZip } from "../../scripts/lib/photos.js";
import { type Stack, startStack } from "../helpers/stack.js";

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");
const FLOW = path.join(ROOT, "test", "http", "fixtures", "client-flow.ts");
const CLASSES = ["cat", "coffee"];

/** openapi-typescript's documented recipe for file uploads: `format: binary` is a `Blob`. */
const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));

describe("a client generated from /openapi.json (openapi-typescript + openapi-fetch)", () => {
  let stack: Stack;
  let dir: string;
  let baseUrl: string;

  before(async () => {
    stack = await startStack();
    stack.spawnWorker("train");
    stack.spawnWorker("predict");
    baseUrl = await stack.app.listen({ port: 0, host: "127.0.0.1" });
    dir = await mkdtemp(path.join(os.tmpdir(), "tls-client-"));
    await symlink(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("type-checks a program that runs the whole flow without a cast, and the program runs it", async () => {
    const res = await stack.app.inject({ method: "GET", url: "/openapi.json" });
    assert.equal(res.statusCode, 200);
    const ast = await openapiTS(JSON.parse(res.body), {
      transform: (schema) => (schema.format === "binary" ? BLOB : undefined),
    });
    await writeFile(path.join(dir, "api.d.ts"), astToString(ast));

    const source = await readFile(FLOW, "utf8");
    const code = source.replace(/\/\*[\s\S]*?\*\//g, "");
    assert.doesNotMatch(code, /\bas\s+(?!const\b)[\w{[(]/, "the program casts a type");
    assert.doesNotMatch(code, /[\w)\]]!(?=[.[(;,)\s])/, "the program uses a non-null assertion");
    assert.doesNotMatch(code, /\bany\b|@ts-/, "the program escapes the type checker");

    await copyFile(FLOW, path.join(dir, "client-flow.ts"));
    await writeFile(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
    await writeFile(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["ES2023"],
          types: ["node"],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files: ["client-flow.ts", "api.d.ts"],
      }),
    );
    const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
    await run(process.execPath, [tsc, "-p", dir], { cwd: dir }).catch((err) => {
      assert.fail(`the generated client does not type-check the flow:\n${err.stdout}${err.stderr}`);
    });

    const archive = path.join(dir, "cat-vs-coffee.zip");
    await writeFile(archive, await photoDatasetZip(["cat", "coffee"], { train: 8, test: 2 }, 5));
    const image = path.join(dir, "cat.jpg");
    await writeFile(image, photo("cat"));
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "client-flow.ts", baseUrl, archive, image],
      { cwd: dir, timeout: 600_000 },
    ).catch((err) => assert.fail(`the flow failed:\n${err.stdout}${err.stderr}`));
    const out = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");

    assert.deepEqual(out.datasetClasses, CLASSES);
    assert.equal(out.jobState, "completed");
    assert.equal(out.epochs, 2);
    assert.deepEqual(out.modelClasses, CLASSES);
    assert.equal(out.one.length, 2, "topK=2 gives two predictions");
    for (const p of out.one) assert.ok(CLASSES.includes(p.label) && p.probability >= 0 && p.probability <= 1);
    assert.deepEqual(out.two, [2, 2], "two images, two results of topK (default 5, capped at 2 classes)");
    assert.ok(out.listedModels.includes(out.modelId));
    const dataset = await stack.ctx.datasets.get(out.datasetId);
    assert.equal(dataset.name, "client-flow", "the multipart name field arrived");
  });
});
