import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { Rng } from "../../src/lib/rng.js";
import { initTfjs } from "../../src/lib/tfjs.js";
import { type Checkpoint, loadCheckpoint, saveCheckpoint } from "../../src/training/checkpoint.js";
import { type HeadParams, type HeadState, HeadTrainer } from "../../src/training/head.js";

let root: string;
let count = 0;
const fresh = () => path.join(root, `case-${++count}`);

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), "ckpt-test-"));
});
after(() => rm(root, { recursive: true, force: true }));

/** A small hand-made head state whose values depend on `epoch`. */
function state(epoch: number): HeadState {
  const f = (n: number) => Float32Array.from({ length: n }, (_, i) => epoch + i / 8);
  return {
    weights: [
      { name: "hidden/kernel", shape: [3, 2], dtype: "float32", data: f(6) },
      { name: "hidden/bias", shape: [2], dtype: "float32", data: f(2) },
    ],
    optimizer: [
      { name: "iter", shape: [], dtype: "int32", data: new Int32Array([epoch * 10]) },
      { name: "hidden/kernel/m", shape: [3, 2], dtype: "float32", data: f(6) },
    ],
  };
}

function ckpt(epoch: number): Checkpoint {
  return {
    epoch,
    head: state(epoch),
    history: Array.from({ length: epoch }, (_, i) => ({ epoch: i + 1, loss: 1 / (i + 1) })),
    rngState: 1000 + epoch,
    extra: { classes: ["a", "b"] },
  };
}

test("round-trips tensors, history, rng state and extra", async () => {
  const dir = fresh();
  assert.equal(await loadCheckpoint(dir), undefined);
  await saveCheckpoint(dir, ckpt(1));
  const got = await loadCheckpoint(dir);
  assert.deepEqual(got, ckpt(1));
  assert.ok(got!.head.optimizer[0].data instanceof Int32Array);
  assert.ok(got!.head.weights[0].data instanceof Float32Array);
  const noExtra = ckpt(2);
  delete noExtra.extra;
  await saveCheckpoint(dir, noExtra);
  assert.deepEqual(await loadCheckpoint(dir), noExtra);
});

test("returns the newest checkpoint and prunes all but the previous one", async () => {
  const dir = fresh();
  for (let epoch = 1; epoch <= 4; epoch++) await saveCheckpoint(dir, ckpt(epoch));
  assert.equal((await loadCheckpoint(dir))!.epoch, 4);
  const files = (await readdir(dir)).sort();
  assert.equal(files.length, 4, files.join());
  assert.deepEqual(
    files.filter((f) => f.endsWith(".json")),
    ["ckpt-00000003.json", "ckpt-00000004.json"],
  );
  const meta = JSON.parse(await readFile(path.join(dir, "ckpt-00000004.json"), "utf8"));
  assert.ok(files.includes(meta.binary));
  assert.match(meta.binary, /^ckpt-00000004-[0-9a-f]{16}\.bin$/);
});

test("a JSON naming a missing binary falls back to the previous good checkpoint", async () => {
  const dir = fresh();
  await saveCheckpoint(dir, ckpt(1));
  await saveCheckpoint(dir, ckpt(2));
  const meta = JSON.parse(await readFile(path.join(dir, "ckpt-00000002.json"), "utf8"));
  await rm(path.join(dir, meta.binary));
  assert.equal((await loadCheckpoint(dir))!.epoch, 1);
  await saveCheckpoint(dir, ckpt(3));
  assert.equal((await loadCheckpoint(dir))!.epoch, 3);
});

test("a crash after the binary but before the JSON leaves the previous checkpoint in force", async () => {
  const dir = fresh();
  await saveCheckpoint(dir, ckpt(1));
  await writeFile(path.join(dir, "ckpt-00000002-0123456789abcdef.bin"), Buffer.alloc(64, 7));
  await writeFile(path.join(dir, "ckpt-00000002.json.123.abcd.tmp"), '{"format": "head-ch');
  await writeFile(path.join(dir, "ckpt-00000002-fedcba9876543210.bin.123.abcd.tmp"), Buffer.alloc(10));
  assert.deepEqual(await loadCheckpoint(dir), ckpt(1));
  await saveCheckpoint(dir, ckpt(2));
  assert.equal((await loadCheckpoint(dir))!.epoch, 2);
  const files = await readdir(dir);
  assert.ok(!files.some((f) => f.endsWith(".tmp") || f.includes("0123456789abcdef")), files.join());
});

test("truncated JSON, truncated or altered binary: skipped, never thrown", async () => {
  const dir = fresh();
  await saveCheckpoint(dir, ckpt(1));
  await saveCheckpoint(dir, ckpt(2));
  const meta = JSON.parse(await readFile(path.join(dir, "ckpt-00000002.json"), "utf8"));
  const bin = path.join(dir, meta.binary);
  const original = await readFile(bin);
  const altered = Buffer.from(original);
  altered[5] ^= 0xff;
  await writeFile(bin, altered);
  assert.equal((await loadCheckpoint(dir))!.epoch, 1);
  await truncate(bin, 10);
  assert.equal((await loadCheckpoint(dir))!.epoch, 1);
  await writeFile(bin, original);
  assert.equal((await loadCheckpoint(dir))!.epoch, 2);
  await truncate(path.join(dir, "ckpt-00000002.json"), 40);
  assert.equal((await loadCheckpoint(dir))!.epoch, 1);
  await writeFile(path.join(dir, "ckpt-00000001.json"), "");
  assert.equal(await loadCheckpoint(dir), undefined);
});

test("a real head resumes from a saved checkpoint exactly", async () => {
  await initTfjs();
  const params: HeadParams = {
    inputDim: 8,
    classes: 3,
    hiddenUnits: 6,
    dropout: 0.25,
    learningRate: 0.01,
    seed: 3,
  };
  const rng = new Rng(77);
  const x = Float32Array.from({ length: 40 * 8 }, () => rng.next() * 2 - 1);
  const y = Int32Array.from({ length: 40 }, (_, i) => i % 3);
  const epoch = async (head: HeadTrainer, r: Rng) => head.trainEpoch(x, y, { batchSize: 16, rng: r });

  const straight = await HeadTrainer.create(params);
  const rngA = new Rng(5);
  await epoch(straight, rngA);
  await epoch(straight, rngA);
  const expected = await straight.getState();
  straight.dispose();

  const dir = fresh();
  const first = await HeadTrainer.create(params);
  const rngB = new Rng(5);
  const { loss } = await epoch(first, rngB);
  await saveCheckpoint(dir, {
    epoch: 1,
    head: await first.getState(),
    history: [{ loss }],
    rngState: rngB.state,
  });
  first.dispose();

  const saved = (await loadCheckpoint(dir))!;
  assert.deepEqual(saved.history, [{ loss }]);
  const resumed = await HeadTrainer.fromState(params, saved.head);
  await epoch(resumed, new Rng(saved.rngState));
  const got = await resumed.getState();
  resumed.dispose();
  const flat = (s: HeadState) => [...s.weights, ...s.optimizer].flatMap((t) => Array.from(t.data));
  const diffs = flat(got).map((v, i) => Math.abs(v - flat(expected)[i]));
  assert.equal(diffs.length, flat(expected).length);
  assert.ok(Math.max(...diffs) <= 1e-6, `max diff ${Math.max(...diffs)}`);
});
