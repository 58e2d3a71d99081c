/**
 * GET /v1/models/:id/export?format=onnx on a model a real train worker trained on photos of 4 classes (with
 * AUTH on, so that another tenant can ask too): the file passes ONNX's own checker (Python), carries the
 * model's classes and preprocessing in its metadata, and under plain ONNX Runtime gives, on 40 photos not
 * used for training, the probabilities that POST /predict (a real predict worker) gives. With format=tfjs, a
 * .tar.gz of one TF.js layers model with the same metadata, which TF.js (the project's backend) loads from
 * memory and which gives the same probabilities on the same photos.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";
import { promisify } from "node:util";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import request from "supertest";
import * as tar from "tar";
import { type PhotoClass, photoDatasetZip, photoVariants } from "../../scripts/lib/photos.js";
import type { Preprocessing } from "../../src/backbones/manifest.js";
import { preprocessImage } from "../../src/backbones/preprocess.js";
import { initTfjs, tf } from "../../src/lib/tfjs.js";
import { assertError } from "../helpers/archives.js";
import { type Stack, startStack, type WorkerProcess, waitFor } from "../helpers/stack.js";

const { onnx } = onnxProto;
const run = promisify(execFile);
const ADMIN = "admin-key-for-the-export-test-0123456789";
const CLASSES: PhotoClass[] = ["astronaut", "cat", "coffee", "motorcycle"];
const PER_CLASS = 10;

let stack: Stack;
let workers: WorkerProcess[] = [];
let modelId: string;
let tmp: string;

/** A request with `key` as Bearer token. */
function as(key: string, method: "get" | "post", url: string) {
  return request(stack.app.server)[method](url).set("authorization", `Bearer ${key}`);
}

/** GET with the body kept as bytes, whatever its type. */
function download(key: string, url: string) {
  return as(key, "get", url)
    .buffer(true)
    .parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => done(null, Buffer.concat(chunks)));
    });
}

/** What /predict answers, all classes, no unknown rule. */
type Prediction = { label: string; probability: number }[];
let reference: Promise<{ photos: Buffer[]; predicted: Prediction[] }> | undefined;

/** 40 photos not used for training and /predict's answer for each, asked once for all the tests. */
function photosAndPredictions(): Promise<{ photos: Buffer[]; predicted: Prediction[] }> {
  reference ??= (async () => {
    const photos = (
      await Promise.all(CLASSES.map((cls, i) => photoVariants(cls, PER_CLASS, 9_100 + i)))
    ).flat();
    const predicted: Prediction[] = [];
    for (const jpeg of photos) {
      const res = await as(ADMIN, "post", `/v1/models/${modelId}/predict?topK=${CLASSES.length}&unknown=off`)
        .set("content-type", "image/jpeg")
        .send(jpeg);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.unknown, undefined);
      assert.equal(res.body.predictions.length, CLASSES.length);
      predicted.push(res.body.predictions as Prediction);
    }
    return { photos, predicted };
  })();
  return reference;
}

/** The photos preprocessed as an exported model takes them: one float32 tensor, `[N, 3, S, S]` or `[N, S, S, 3]`. */
async function preprocessAll(photos: Buffer[], preprocessing: Preprocessing) {
  const s = preprocessing.inputSize;
  const data = new Float32Array(photos.length * 3 * s * s);
  for (const [i, jpeg] of photos.entries())
    data.set(await preprocessImage(jpeg, preprocessing), i * 3 * s * s);
  const dims = preprocessing.layout === "NHWC" ? [photos.length, s, s, 3] : [photos.length, 3, s, s];
  return { data, dims };
}

/**
 * Compares an exported model's probabilities (`[N, C]` in the order of `classes`) with /predict's: the same
 * top-1 label for every photo and each probability within 1e-3. Prints the figures as one JSON line.
 */
function compareWithPredict(format: string, probs: Float32Array, classes: string[], predicted: Prediction[]) {
  let maxDiff = 0;
  let agree = 0;
  for (const [i, predictions] of predicted.entries()) {
    const row = probs.subarray(i * CLASSES.length, (i + 1) * CLASSES.length);
    const top = classes[row.indexOf(Math.max(...row))];
    assert.equal(top, predictions[0].label, `photo ${i}: top-1 label`);
    agree++;
    for (const p of predictions) {
      const diff = Math.abs(row[classes.indexOf(p.label)] - p.probability);
      maxDiff = Math.max(maxDiff, diff);
      assert.ok(diff <= 1e-3, `photo ${i}, ${p.label}: ${row[classes.indexOf(p.label)]} vs ${p.probability}`);
    }
  }
  console.log(
    JSON.stringify({ export: format, images: predicted.length, top1Agree: agree, maxAbsProbDiff: maxDiff }),
  );
}

const workerLogs = () => workers.map((w) => w.output().slice(-2000)).join("\n---\n");

before(
  async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "export-test-"));
    stack = await startStack({ AUTH: "on", ADMIN_API_KEY: ADMIN, RATE_LIMIT_PER_MINUTE: "0" });
    workers = [stack.spawnWorker("train"), stack.spawnWorker("predict")];
    const zip = await photoDatasetZip(CLASSES, { train: 6, test: 1 }, 41);
    const up = await as(ADMIN, "post", "/v1/datasets").attach("file", zip, "photos.zip");
    assert.equal(up.status, 202, up.text);
    const datasetId = up.body.id as string;
    await waitFor(
      async () => {
        const res = await as(ADMIN, "get", `/v1/datasets/${datasetId}`);
        assert.notEqual(res.body.state, "failed", res.text);
        return res.body.state === "ready" ? true : undefined;
      },
      120_000,
      "the dataset to be ready",
    );
    const job = await as(ADMIN, "post", "/v1/jobs").send({
      datasetId,
      epochs: 4,
      batchSize: 8,
      hiddenUnits: 32,
      learningRate: 0.01,
    });
    assert.equal(job.status, 202, job.text);
    modelId = await waitFor(
      async () => {
        const res = await as(ADMIN, "get", `/v1/jobs/${job.body.id}`);
        assert.ok(!["failed", "cancelled"].includes(res.body.state), `${res.text}\n${workerLogs()}`);
        return res.body.state === "completed" ? (res.body.modelId as string) : undefined;
      },
      300_000,
      "the training job to complete",
    );
  },
  { timeout: 420_000 },
);

after(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  await Promise.all(workers.map((w) => w.exited));
  await stack?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/**
 * GETs an export twice at once (one shared build, the same bytes, the headers of `type` and `filename`) and
 * once more (served from the cache); the model folder then holds one `suffix` export and no temporary file.
 */
async function downloadOnce(url: string, type: string, filename: string, suffix: string): Promise<Buffer> {
  const [first, second] = await Promise.all([download(ADMIN, url), download(ADMIN, url)]);
  for (const res of [first, second]) {
    assert.equal(res.status, 200, String(res.body).slice(0, 500));
    assert.equal(res.headers["content-type"], type);
    assert.equal(res.headers["content-disposition"], `attachment; filename="${filename}"`);
    assert.equal(Number(res.headers["content-length"]), (res.body as Buffer).length);
  }
  const bytes = first.body as Buffer;
  assert.ok(bytes.equals(second.body as Buffer), "concurrent requests get the same file");
  const cached = await download(ADMIN, url);
  assert.equal(cached.status, 200);
  assert.ok(bytes.equals(cached.body as Buffer), "the cached file is served again");
  const folder = await readdir(path.join(stack.dataDir, "models", modelId));
  assert.equal(folder.filter((f) => f.endsWith(suffix)).length, 1, `one ${suffix} export: ${folder}`);
  assert.deepEqual(
    folder.filter((f) => f.endsWith(".tmp")),
    [],
    "no temporary file left",
  );
  return bytes;
}

it("exports one ONNX file that ONNX's checker accepts and that predicts as /predict does", {
  timeout: 300_000,
}, async () => {
  const model = (await as(ADMIN, "get", `/v1/models/${modelId}`)).body as {
    classes: string[];
    preprocessing: Preprocessing;
  };
  assert.deepEqual(model.classes, CLASSES as string[]);
  const url = `/v1/models/${modelId}/export?format=onnx`;

  const bytes = await downloadOnce(url, "application/octet-stream", `${modelId}.onnx`, ".onnx");
  assert.ok(bytes.length > 1_000_000, `${bytes.length} bytes: the backbone is inside`);
  const file = path.join(tmp, `${modelId}.onnx`);
  await writeFile(file, bytes);

  // ONNX's own checker (python3-onnx), full check (shape inference included).
  await run("/usr/bin/python3", [
    "-c",
    "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)",
    file,
  ]).catch((err: Error & { stderr?: string }) => assert.fail(`ONNX checker: ${err.message}\n${err.stderr}`));

  // Metadata: the model's classes and preprocessing; one output `probabilities` [N, C].
  const proto = onnx.ModelProto.decode(bytes);
  const meta = Object.fromEntries(proto.metadataProps.map((p) => [p.key, p.value]));
  assert.equal(meta.modelId, modelId);
  const classes = JSON.parse(meta.classes) as string[];
  assert.deepEqual(classes, model.classes);
  const preprocessing = JSON.parse(meta.preprocessing) as Preprocessing;
  assert.deepEqual(preprocessing, model.preprocessing);
  assert.deepEqual(
    proto.graph?.output?.map((o) => o.name),
    ["probabilities"],
  );
  const outDims = proto.graph?.output?.[0].type?.tensorType?.shape?.dim ?? [];
  assert.equal(outDims.length, 2);
  assert.ok(outDims[0].dimParam, "symbolic batch dim");
  assert.equal(Number(outDims[1].dimValue), CLASSES.length);

  // 40 photos not used for training: plain ONNX Runtime on the file against /predict.
  const { photos, predicted } = await photosAndPredictions();
  const input = await preprocessAll(photos, preprocessing);
  const session = await ort.InferenceSession.create(file);
  let probs: Float32Array;
  try {
    assert.equal(session.inputNames.length, 1);
    const out = await session.run({
      [session.inputNames[0]]: new ort.Tensor("float32", input.data, input.dims),
    });
    assert.deepEqual(out.probabilities.dims, [photos.length, CLASSES.length]);
    probs = Float32Array.from(out.probabilities.data as Float32Array);
  } finally {
    await session.release();
  }
  compareWithPredict("onnx", probs, classes, predicted);
});

it("exports a .tar.gz of one TF.js layers model that predicts as /predict does", {
  timeout: 300_000,
}, async () => {
  const model = (await as(ADMIN, "get", `/v1/models/${modelId}`)).body as {
    classes: string[];
    preprocessing: Preprocessing;
  };
  const url = `/v1/models/${modelId}/export?format=tfjs`;
  const bytes = await downloadOnce(url, "application/gzip", `${modelId}-tfjs.tar.gz`, ".tar.gz");
  const folder = await readdir(path.join(stack.dataDir, "models", modelId));
  assert.equal(folder.filter((f) => f.endsWith(".onnx")).length, 1, `the ONNX export stays: ${folder}`);

  const dir = path.join(tmp, "tfjs");
  await mkdir(dir);
  const archive = path.join(tmp, `${modelId}-tfjs.tar.gz`);
  await writeFile(archive, bytes);
  await tar.x({ file: archive, cwd: dir });
  assert.deepEqual((await readdir(dir)).sort(), ["model.json", "weights.bin"]);
  const json = JSON.parse(await readFile(path.join(dir, "model.json"), "utf8")) as {
    format: string;
    modelTopology: object;
    weightsManifest: tf.io.WeightsManifestConfig;
    userDefinedMetadata: {
      classes: string[];
      preprocessing: Preprocessing;
      modelId: string;
      weights: string;
    };
  };
  assert.equal(json.format, "layers-model");
  assert.deepEqual(
    json.weightsManifest.map((g) => g.paths),
    [["weights.bin"]],
  );
  const meta = json.userDefinedMetadata;
  assert.equal(meta.modelId, modelId);
  assert.deepEqual(meta.classes, model.classes);
  assert.deepEqual(meta.preprocessing, model.preprocessing);
  assert.equal(meta.weights, "float32");
  const weights = await readFile(path.join(dir, "weights.bin"));

  await initTfjs();
  const layers = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  );
  const { photos, predicted } = await photosAndPredictions();
  const input = await preprocessAll(photos, meta.preprocessing);
  let probs: Float32Array;
  try {
    assert.deepEqual(
      layers.outputs.map((o) => o.shape),
      [[null, CLASSES.length]],
    );
    const out = tf.tidy(() => layers.predict(tf.tensor(input.data, input.dims)) as tf.Tensor);
    assert.deepEqual(out.shape, [photos.length, CLASSES.length]);
    probs = (await out.data()) as Float32Array;
    out.dispose();
  } finally {
    layers.dispose();
  }
  compareWithPredict("tfjs", probs, meta.classes, predicted);
});

it("answers 404 for an unknown id and another tenant's model, 400 for another format", async () => {
  assertError(await as(ADMIN, "get", "/v1/models/mdl_nothere0/export?format=onnx"), 404, "NOT_FOUND");
  const key = await as(ADMIN, "post", "/v1/keys").send({ tenant: "other", scopes: ["write"], name: "other" });
  assert.equal(key.status, 201, key.text);
  const other = key.body.key as string;
  assert.equal((await as(other, "get", "/v1/models")).status, 200, "the other tenant's key works");
  assertError(await as(other, "get", `/v1/models/${modelId}/export?format=onnx`), 404, "NOT_FOUND");
  assertError(await as(other, "get", `/v1/models/${modelId}/export?format=tfjs`), 404, "NOT_FOUND");
  assertError(
    await as(ADMIN, "get", `/v1/models/${modelId}/export?format=savedmodel`),
    400,
    "VALIDATION_ERROR",
  );
});
