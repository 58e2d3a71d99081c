import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import request from "supertest";
import * as tar from "tar";
import { photo } from "../../scripts/lib/photos.js";
import {
  assertError,
  assertIngestFailed,
  imageEntries,
  ingestDataset,
  type RawEntry,
  rawTar,
  rawTarGz,
  rawZip,
  truncatedJpeg,
  uploadDataset,
  waitForDataset,
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
      it(`${format}, split layout${wrap ? ", wrapped" : ""}: 202, then ready with train/val/test splits`, async () => {
        const entries = [
          ...junk(wrap),
          ...imageEntries(["cat", "coffee"], 3, `${wrap}train/`),
          ...imageEntries(["cat", "coffee"], 1, `${wrap}val/`),
          ...imageEntries(["cat", "coffee"], 2, `${wrap}test/`),
        ];
        const res = await uploadDataset(stack, await build(format, entries), `pets.${format}`, "pets");
        assert.equal(res.status, 202, res.text);
        assert.match(res.body.id, /^ds_/);
        assert.equal(res.headers.location, `/v1/datasets/${res.body.id}`);
        assert.equal(res.body.state, "ingesting");
        assert.equal(res.body.name, "pets");
        const ds = await waitForDataset(stack, res.body.id);
        assert.equal(ds.state, "ready", JSON.stringify(ds.error));
        assert.ok(!Number.isNaN(Date.parse(ds.createdAt)));
        assert.deepEqual(ds.classes, ["cat", "coffee"]);
        assert.deepEqual(ds.splits, {
          train: { images: 6, perClass: { cat: 3, coffee: 3 } },
          val: { images: 2, perClass: { cat: 1, coffee: 1 } },
          test: { images: 4, perClass: { cat: 2, coffee: 2 } },
        });
        assert.deepEqual(ds.rejected, []);
        assert.ok(ds.ignored >= 3, `junk is counted as ignored (${ds.ignored})`);
        assert.deepEqual(ds.progress && [ds.progress.done, ds.progress.percent], [12, 100]);
        const files = await readdir(path.join(stack.dataDir, "datasets", ds.id), { recursive: true });
        assert.deepEqual(
          files.sort(),
          ["dataset.json", "images.pack", "items.json", "report.json"],
          "the images are in the pack; junk and the archive are gone",
        );
      });

      it(`${format}, class layout${wrap ? ", wrapped" : ""}: ready, everything is train`, async () => {
        const entries = [...junk(wrap), ...imageEntries(["cat", "coffee", "astronaut"], 2, wrap)];
        const ds = await ingestDataset(stack, await build(format, entries), `three-classes.${format}`);
        assert.equal(ds.state, "ready", JSON.stringify(ds.error));
        assert.equal(ds.name, "three-classes", "name defaults to the file name without extension");
        assert.deepEqual(ds.classes, ["astronaut", "cat", "coffee"]);
        assert.deepEqual(ds.splits, {
          train: { images: 6, perClass: { astronaut: 2, cat: 2, coffee: 2 } },
        });
        assert.deepEqual(ds.rejected, []);
      });
    }
  }

  it("a .tgz written by node-tar from a real folder tree (wrapping folder, split layout) is ingested", async () => {
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
      const ds = await ingestDataset(stack, await readFile(file), "photos.tgz");
      assert.equal(ds.name, "photos");
      assert.deepEqual(ds.splits.train, { images: 4, perClass: { cat: 2, coffee: 2 } });
      assert.deepEqual(ds.splits.test, { images: 4, perClass: { cat: 2, coffee: 2 } });
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
    const ds = await ingestDataset(stack, await rawZip(entries), "broken.zip");
    assert.equal(ds.state, "ready", JSON.stringify(ds.error));
    assert.deepEqual(ds.splits.train, { images: 6, perClass: { cat: 3, coffee: 3 } });
    assert.deepEqual(ds.splits.test, { images: 2, perClass: { cat: 1, coffee: 1 } });
    const broken = ["test/cat/empty.png", "train/cat/truncated.jpg", "train/coffee/notes.jpg"];
    assert.deepEqual(
      ds.rejected.map((r) => r.path),
      broken,
    );
    assert.equal(ds.rejectedCount, 3);
    for (const r of ds.rejected) assert.ok(r.reason.trim().length > 0, `no reason for ${r.path}`);
    const report = await request(stack.app.server).get(`/v1/datasets/${ds.id}/report`);
    assert.equal(report.status, 200, report.text);
    assert.deepEqual(report.body.rejected, ds.rejected);
    for (const rel of broken) {
      assertError(
        await request(stack.app.server).get(`/v1/datasets/${ds.id}/images/${rel}`),
        404,
        "NOT_FOUND",
      );
    }
  });

  it("the report finds the duplicate in another encoding, the conflict, and the exact and near leaks", async () => {
    const cat = photo("cat");
    const coffee = photo("coffee");
    const catPng = await sharp(cat).png().toBuffer();
    const meta = await sharp(coffee).metadata();
    const coffeeSmall = await sharp(coffee)
      .resize(Math.round((meta.width ?? 500) * 0.8))
      .jpeg({ quality: 80 })
      .toBuffer();
    const entries: RawEntry[] = [
      { name: "train/cat/a.jpg", data: cat },
      { name: "train/cat/b.png", data: catPng },
      { name: "train/cat/m.jpg", data: photo("motorcycle") },
      { name: "train/coffee/c.jpg", data: cat },
      { name: "train/coffee/d.jpg", data: coffee },
      { name: "train/coffee/s.jpg", data: photo("astronaut") },
      { name: "train/coffee/t.jpg", data: await sharp(photo("astronaut")).flop().jpeg().toBuffer() },
      { name: "test/cat/leak.png", data: catPng },
      { name: "test/coffee/near.jpg", data: coffeeSmall },
    ];
    const ds = await ingestDataset(stack, await rawZip(entries), "report.zip");
    assert.equal(ds.state, "ready", JSON.stringify(ds.error));
    const res = await request(stack.app.server).get(`/v1/datasets/${ds.id}/report`);
    assert.equal(res.status, 200, res.text);
    const report = res.body;
    assert.deepEqual(report.exactDuplicates, [
      { paths: ["test/cat/leak.png", "train/cat/a.jpg", "train/cat/b.png", "train/coffee/c.jpg"] },
    ]);
    assert.deepEqual(
      report.conflicts.map((c: { labels: string[] }) => [...new Set(c.labels)].sort()),
      [["cat", "coffee"]],
    );
    const leaks = report.leaks.map((l: { other: string; kind: string }) => `${l.other}:${l.kind}`).sort();
    assert.deepEqual(leaks, ["test/cat/leak.png:exact", "test/coffee/near.jpg:near"]);
    assert.ok(
      report.nearDuplicates.some((n: { paths: string[] }) => n.paths.includes("train/coffee/d.jpg")),
      JSON.stringify(report.nearDuplicates),
    );
    assert.ok(
      !report.nearDuplicates.some((n: { paths: string[] }) => n.paths.includes("train/coffee/t.jpg")),
      "a mirrored photo is another picture",
    );
    assert.deepEqual(report.imbalance, { largest: "coffee", smallest: "cat", ratio: 1.33 });
    assert.deepEqual(ds.summary, {
      exactDuplicates: 1,
      nearDuplicates: report.nearDuplicates.length,
      leaks: 2,
      conflicts: 1,
      imbalanceRatio: 1.33,
    });
  });

  it("class names: NFC-normalized, __proto__ kept, case collisions reported, control characters refused", async () => {
    const nfc = "caf\u00e9";
    const nfd = "cafe\u0301";
    const entries: RawEntry[] = [
      { name: "train/__proto__/a.jpg", data: photo("cat") },
      { name: "train/Cat/a.jpg", data: photo("coffee") },
      { name: "train/cat/a.jpg", data: photo("astronaut") },
      { name: `train/${nfc}/a.jpg`, data: photo("motorcycle") },
      { name: `train/${nfd}/b.jpg`, data: await sharp(photo("motorcycle")).flop().jpeg().toBuffer() },
    ];
    const ds = await ingestDataset(stack, await rawZip(entries), "names.zip");
    assert.equal(ds.state, "ready", JSON.stringify(ds.error));
    assert.deepEqual(ds.classes, ["Cat", "__proto__", "caf\u00e9", "cat"]);
    assert.equal(ds.splits.train.perClass[nfc], 2, "NFC and NFD spellings are one class");
    assert.equal(Object.hasOwn(ds.splits.train.perClass, "__proto__"), true);
    const report = (await request(stack.app.server).get(`/v1/datasets/${ds.id}/report`)).body;
    assert.deepEqual(report.classNameCollisions, [["Cat", "cat"]]);

    const newline = await ingestDataset(
      stack,
      await rawZip([
        ...imageEntries(["cat"], 1, "train/"),
        { name: "train/bad\nname/a.jpg", data: photo("cat") },
      ]),
      "newline.zip",
    );
    await assertIngestFailed(stack, newline, "INVALID_CLASS_NAME");
    const long = await ingestDataset(
      stack,
      await rawZip([
        ...imageEntries(["cat"], 1, "train/"),
        { name: `train/${"x".repeat(300)}/a.jpg`, data: photo("cat") },
      ]),
      "long.zip",
    );
    assert.equal(long.state, "failed");
    assert.match(long.error?.code ?? "", /^(INVALID_CLASS_NAME|INVALID_ARCHIVE)$/);
    assert.match(long.error?.message ?? "", /long/);
  });

  it("GET one, GET list (paginated, newest first, counts only), images, DELETE 204, then 404", async () => {
    const first = await ingestDataset(stack, await rawZip(imageEntries(["cat", "coffee"], 2)), "a.zip");
    const second = await ingestDataset(stack, await rawZip(imageEntries(["cat", "coffee"], 2)), "b.zip");
    const api = request(stack.app.server);

    const one = await api.get(`/v1/datasets/${first.id}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, first);

    const list = await api.get("/v1/datasets");
    assert.equal(list.status, 200);
    const ids = list.body.items.map((d: { id: string }) => d.id);
    assert.ok(ids.indexOf(second.id) !== -1 && ids.indexOf(first.id) !== -1);
    assert.ok(ids.indexOf(second.id) < ids.indexOf(first.id), "newest first");
    const { rejected: _, ...counts } = first;
    assert.deepEqual(
      list.body.items.find((d: { id: string }) => d.id === first.id),
      counts,
      "a listed dataset carries counts, not its rejected list",
    );
    const page1 = await api.get("/v1/datasets?limit=1");
    assert.equal(page1.body.items.length, 1);
    assert.equal(typeof page1.body.nextCursor, "string");
    const page2 = await api.get(`/v1/datasets?limit=500&cursor=${page1.body.nextCursor}`);
    assert.deepEqual(
      [...page1.body.items, ...page2.body.items].map((d: { id: string }) => d.id),
      ids,
      "pages follow each other",
    );
    assert.equal(page2.body.nextCursor, null);
    assertError(await api.get("/v1/datasets?cursor=bm9wZQ"), 400, "INVALID_CURSOR");

    const image = await api.get(`/v1/datasets/${first.id}/images/cat/cat_0.jpg`);
    assert.equal(image.status, 200, image.text);
    assert.equal(image.headers["content-type"], "image/jpeg");
    assert.deepEqual(image.body, photo("cat"));
    for (const bad of ["cat/nope.jpg", "..%2F..%2Fdataset.json", "%2Fetc%2Fpasswd", "../dataset.json"]) {
      assertError(await api.get(`/v1/datasets/${first.id}/images/${bad}`), 404);
    }

    const del = await api.delete(`/v1/datasets/${first.id}`);
    assert.equal(del.status, 204);
    assert.equal(del.text, "");
    assertError(await api.get(`/v1/datasets/${first.id}`), 404, "NOT_FOUND");
    assertError(await api.delete(`/v1/datasets/${first.id}`), 404, "NOT_FOUND");
    const after = (await api.get("/v1/datasets")).body.items as { id: string }[];
    assert.ok(!after.some((d) => d.id === first.id), "deleted one is not listed");
    assert.ok(
      after.some((d) => d.id === second.id),
      "the other one is",
    );
  });

  it("GET of an unknown or path-like id is 404", async () => {
    const api = request(stack.app.server);
    assertError(await api.get("/v1/datasets/ds_doesnotexist"), 404, "NOT_FOUND");
    assertError(await api.get("/v1/datasets/..%2F..%2Fetc"), 404);
    assertError(await api.delete("/v1/datasets/ds_doesnotexist"), 404, "NOT_FOUND");
  });

  describe("failed INVALID_DATASET for archives that are not a usable dataset", () => {
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
        const ds = await ingestDataset(stack, await archive(), "bad.zip");
        await assertIngestFailed(stack, ds, "INVALID_DATASET");
        assert.match(ds.error?.message ?? "", message);
        const api = request(stack.app.server);
        assertError(await api.post("/v1/jobs").send({ datasetId: ds.id }), 409, "DATASET_NOT_READY");
        assertError(await api.get(`/v1/datasets/${ds.id}/report`), 409, "DATASET_NOT_READY");
        await api.delete(`/v1/datasets/${ds.id}`).expect(204);
      });
    }
  });
});
