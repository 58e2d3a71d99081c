import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import * as tar from "tar";
import { photo } from "../../scripts/lib/photos.js";
import {
  assertError,
  assertNoLeftovers,
  imageEntries,
  type RawEntry,
  rawTar,
  rawTarGz,
  rawZip,
  truncatedJpeg,
  uploadDataset,
} from "../helpers/archives.js";
import { type Stack, startStack } from "../helpers/stack.js";

type Format = "zip" | "tar" | "tar.gz";
const build = (format: Format, entries: RawEntry[]): Promise<Buffer> | Buffer =>
  format === "zip" ? rawZip(entries) : format === "tar" ? rawTar(entries) : rawTarGz(entries);

/** Junk every upload carries: must be ignored, never become a class or an image. */
const junk = (root: string): RawEntry[] => [
  { name: `${root}__MACOSX/`, kind: "dir" },
  { name: `${root}__MACOSX/cat/._cat_0.jpg`, data: Buffer.from("resource fork") },
  { name: `${root}.DS_Store`, data: Buffer.from("junk") },
  { name: `${root}README.txt`, data: Buffer.from("not an image") },
];

describe("datasets API: uploads, layouts, CRUD", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  for (const format of ["zip", "tar", "tar.gz"] as const) {
    for (const wrap of ["", "Cat_Coffee_data/"]) {
      it(`${format}, split layout${wrap ? ", wrapped" : ""}: 201 with train/val/test splits`, async () => {
        const entries = [
          ...junk(wrap),
          ...imageEntries(["cat", "coffee"], 3, `${wrap}train/`),
          ...imageEntries(["cat", "coffee"], 1, `${wrap}val/`),
          ...imageEntries(["cat", "coffee"], 2, `${wrap}test/`),
        ];
        const res = await uploadDataset(stack, await build(format, entries), `pets.${format}`, "pets");
        assert.equal(res.status, 201, res.text);
        assert.match(res.body.id, /^ds_/);
        assert.equal(res.headers.location, `/v1/datasets/${res.body.id}`);
        assert.equal(res.body.name, "pets");
        assert.ok(!Number.isNaN(Date.parse(res.body.createdAt)));
        assert.deepEqual(res.body.classes, ["cat", "coffee"]);
        assert.deepEqual(res.body.splits, {
          train: { images: 6, perClass: { cat: 3, coffee: 3 } },
          val: { images: 2, perClass: { cat: 1, coffee: 1 } },
          test: { images: 4, perClass: { cat: 2, coffee: 2 } },
        });
        assert.deepEqual(res.body.rejected, []);
        assert.ok(res.body.ignored >= 3, `junk is counted as ignored (${res.body.ignored})`);
      });

      it(`${format}, class layout${wrap ? ", wrapped" : ""}: 201, everything is train`, async () => {
        const entries = [...junk(wrap), ...imageEntries(["cat", "coffee", "astronaut"], 2, wrap)];
        const res = await uploadDataset(stack, await build(format, entries), `three-classes.${format}`);
        assert.equal(res.status, 201, res.text);
        assert.equal(res.body.name, "three-classes", "name defaults to the file name without extension");
        assert.deepEqual(res.body.classes, ["astronaut", "cat", "coffee"]);
        assert.deepEqual(res.body.splits, {
          train: { images: 6, perClass: { astronaut: 2, cat: 2, coffee: 2 } },
        });
        assert.deepEqual(res.body.rejected, []);
      });
    }
  }

  it("a .tgz written by node-tar from a real folder tree (wrapping folder, split layout) is 201", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "tls-tree-"));
    try {
      for (const split of ["train", "test"]) {
        for (const cls of ["cat", "coffee"] as const) {
          await mkdir(path.join(dir, "photos", split, cls), { recursive: true });
          for (let i = 0; i < 2; i++)
            await writeFile(path.join(dir, "photos", split, cls, `${i}.jpg`), photo(cls));
        }
      }
      const file = path.join(dir, "photos.tgz");
      await tar.c({ gzip: true, cwd: dir, file, portable: true }, ["photos"]);
      const res = await uploadDataset(stack, await readFile(file), "photos.tgz");
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.name, "photos");
      assert.deepEqual(res.body.splits.train, { images: 4, perClass: { cat: 2, coffee: 2 } });
      assert.deepEqual(res.body.splits.test, { images: 4, perClass: { cat: 2, coffee: 2 } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("broken images (truncated JPEG, text named .jpg) are listed in rejected, the rest is accepted", async () => {
    const entries: RawEntry[] = [
      ...imageEntries(["cat", "coffee"], 3, "train/"),
      { name: "train/cat/truncated.jpg", data: truncatedJpeg() },
      { name: "train/coffee/notes.jpg", data: Buffer.from("this is text, not a JPEG\n") },
      ...imageEntries(["cat", "coffee"], 1, "test/"),
      { name: "test/cat/empty.png", data: Buffer.alloc(0) },
    ];
    const res = await uploadDataset(stack, await rawZip(entries), "broken.zip");
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body.splits.train, { images: 6, perClass: { cat: 3, coffee: 3 } });
    assert.deepEqual(res.body.splits.test, { images: 2, perClass: { cat: 1, coffee: 1 } });
    const rejected = res.body.rejected as { path: string; reason: string }[];
    assert.deepEqual(rejected.map((r) => r.path).sort(), [
      "test/cat/empty.png",
      "train/cat/truncated.jpg",
      "train/coffee/notes.jpg",
    ]);
    for (const r of rejected) assert.ok(r.reason.trim().length > 0, `no reason for ${r.path}`);
  });

  it("GET one, GET list (newest first), DELETE 204, then GET and DELETE are 404", async () => {
    const first = await uploadDataset(stack, await rawZip(imageEntries(["cat", "coffee"], 2)), "a.zip");
    const second = await uploadDataset(stack, await rawZip(imageEntries(["cat", "coffee"], 2)), "b.zip");
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    const api = request(stack.app.server);

    const one = await api.get(`/v1/datasets/${first.body.id}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, first.body, "GET returns what POST returned");

    const list = await api.get("/v1/datasets");
    assert.equal(list.status, 200);
    const ids = list.body.map((d: { id: string }) => d.id);
    assert.ok(ids.indexOf(second.body.id) !== -1 && ids.indexOf(first.body.id) !== -1);
    assert.ok(ids.indexOf(second.body.id) < ids.indexOf(first.body.id), "newest first");
    assert.deepEqual(
      list.body.find((d: { id: string }) => d.id === first.body.id),
      first.body,
    );

    const del = await api.delete(`/v1/datasets/${first.body.id}`);
    assert.equal(del.status, 204);
    assert.equal(del.text, "");
    assertError(await api.get(`/v1/datasets/${first.body.id}`), 404, "NOT_FOUND");
    assertError(await api.delete(`/v1/datasets/${first.body.id}`), 404, "NOT_FOUND");
    const after = await api.get("/v1/datasets");
    assert.ok(!after.body.some((d: { id: string }) => d.id === first.body.id), "deleted one is not listed");
    assert.ok(
      after.body.some((d: { id: string }) => d.id === second.body.id),
      "the other one is",
    );
  });

  it("GET of an unknown or path-like id is 404", async () => {
    const api = request(stack.app.server);
    assertError(await api.get("/v1/datasets/ds_doesnotexist"), 404, "NOT_FOUND");
    assertError(await api.get("/v1/datasets/..%2F..%2Fetc"), 404);
    assertError(await api.delete("/v1/datasets/ds_doesnotexist"), 404, "NOT_FOUND");
  });

  describe("400 for archives that are not a usable dataset", () => {
    const cases: [string, () => Promise<Buffer> | Buffer, RegExp][] = [
      ["fewer than 2 classes", () => rawZip(imageEntries(["cat"], 3, "train/")), /class/i],
      [
        "no class (images at the root, text in folders)",
        () =>
          rawZip([
            { name: "a.jpg", data: photo("cat") },
            { name: "b.jpg", data: photo("coffee") },
            { name: "cat/notes.txt", data: Buffer.from("x") },
          ]),
        /class/i,
      ],
      [
        "a class whose only images are broken",
        () =>
          rawTar([
            ...imageEntries(["cat"], 3, "train/"),
            { name: "train/coffee/a.jpg", data: truncatedJpeg() },
            { name: "train/coffee/b.jpg", data: Buffer.from("not an image") },
          ]),
        /coffee/,
      ],
      [
        "a class with images in test only",
        () => rawZip([...imageEntries(["cat", "coffee"], 2, "test/"), ...imageEntries(["cat"], 2, "train/")]),
        /coffee/,
      ],
    ];
    for (const [what, archive, message] of cases) {
      it(what, async () => {
        const before = (await request(stack.app.server).get("/v1/datasets")).body.map(
          (d: { id: string }) => d.id,
        );
        const res = await uploadDataset(stack, await archive(), "bad.zip");
        assertError(res, 400, "INVALID_DATASET");
        assert.match(res.body.error.message, message);
        await assertNoLeftovers(stack, before);
      });
    }
  });
});
