import assert from "node:assert/strict";
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import request from "supertest";
import {
  assertAbsent,
  assertError,
  assertIngestFailed,
  assertNoLeftovers,
  climbingName,
  imageEntries,
  ingestDataset,
  type RawEntry,
  rawTar,
  rawTarGz,
  rawZip,
  sentinelPath,
  uploadDataset,
} from "../helpers/archives.js";
import { type Stack, startStack } from "../helpers/stack.js";

const MB = 1024 * 1024;
const LIMIT = 5 * MB;

/** Every regular file under `dir`, relative; folders listed in `skip` (first segment) are left out. */
async function filesUnder(dir: string, skip: string[]): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((rel) => !skip.includes(rel.split(path.sep)[0]));
}

describe("datasets API: hostile and malformed uploads", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ MAX_UNPACKED_BYTES: String(LIMIT) });
  });
  after(() => stack.close());

  /** After every hostile upload: nothing kept in DATA_DIR, no dataset listed, and the API still answers. */
  afterEach(async () => {
    await assertNoLeftovers(stack);
    assert.deepEqual(await filesUnder(stack.dataDir, ["cache"]), [], "files left in DATA_DIR");
    const api = request(stack.app.server);
    assert.deepEqual((await api.get("/v1/datasets")).body.items, []);
    assert.equal((await api.get("/healthz")).status, 200);
  });

  const legit = (): RawEntry[] => imageEntries(["cat", "coffee"], 2, "train/");

  /**
   * Uploads an archive whose bytes look like an archive: 202, then ingestion fails with `code`, keeping
   * only the dataset's record, which is then deleted (so that afterEach finds DATA_DIR empty).
   */
  async function failsWith(archive: Buffer, filename: string, code: string): Promise<void> {
    const dataset = await ingestDataset(stack, archive, filename);
    await assertIngestFailed(stack, dataset, code);
    await request(stack.app.server).delete(`/v1/datasets/${dataset.id}`).expect(204);
  }

  describe("failed UNSAFE_ARCHIVE, nothing written outside DATA_DIR", () => {
    for (const format of ["zip", "tar"] as const) {
      const pack = (entries: RawEntry[]) => (format === "zip" ? rawZip(entries) : rawTar(entries));

      it(`${format}: an entry climbing out with ../`, async () => {
        const target = sentinelPath();
        const archive = await pack([...legit(), { name: climbingName(target), data: Buffer.from("pwned") }]);
        await failsWith(archive, `evil.${format}`, "UNSAFE_ARCHIVE");
        assertAbsent(target);
      });

      it(`${format}: a ../ entry that stays inside after normalisation is refused too`, async () => {
        const archive = await pack([...legit(), { name: "train/cat/../cat/x.jpg", data: Buffer.from("x") }]);
        await failsWith(archive, `evil.${format}`, "UNSAFE_ARCHIVE");
      });

      it(`${format}: an absolute path entry`, async () => {
        const target = sentinelPath();
        const archive = await pack([...legit(), { name: `${target}/x.jpg`, data: Buffer.from("pwned") }]);
        await failsWith(archive, `evil.${format}`, "UNSAFE_ARCHIVE");
        assertAbsent(target);
      });

      it(`${format}: a symlink entry pointing outside, then a file written through it`, async () => {
        const target = sentinelPath();
        await mkdir(target);
        try {
          const archive = await pack([
            ...legit(),
            { name: "train/cat/link", kind: "symlink", target },
            { name: "train/cat/link/x.jpg", data: Buffer.from("pwned") },
          ]);
          await failsWith(archive, `evil.${format}`, "UNSAFE_ARCHIVE");
          assert.deepEqual(await readdir(target), [], "nothing written through the link");
        } finally {
          await rm(target, { recursive: true, force: true });
        }
      });
    }

    it("tar: a hard link entry", async () => {
      const archive = rawTar([
        ...legit(),
        { name: "train/cat/passwd.jpg", kind: "hardlink", target: "/etc/passwd" },
      ]);
      await failsWith(archive, "evil.tar", "UNSAFE_ARCHIVE");
    });

    it("tar.gz: an entry climbing out with ../", async () => {
      const target = sentinelPath();
      const archive = rawTarGz([...legit(), { name: climbingName(target), data: Buffer.from("pwned") }]);
      await failsWith(archive, "evil.tar.gz", "UNSAFE_ARCHIVE");
      assertAbsent(target);
    });
  });

  describe("failed PAYLOAD_TOO_LARGE for archives that unpack past MAX_UNPACKED_BYTES", () => {
    const zeros = Buffer.alloc(20 * MB);

    it("zip bomb: 20 MB of zeros in one entry", async () => {
      const archive = await rawZip([...legit(), { name: "train/cat/bomb.jpg", data: zeros }]);
      assert.ok(archive.length < 200 * 1024, `the bomb is small (${archive.length} bytes)`);
      await failsWith(archive, "bomb.zip", "PAYLOAD_TOO_LARGE");
    });

    it("zip: many 1 MB entries of zeros, each below the ratio check, 6 MB in all", async () => {
      const entries = Array.from({ length: 6 }, (_, i) => ({
        name: `train/cat/z${i}.jpg`,
        data: zeros.subarray(0, MB),
      }));
      const archive = await rawZip([...legit(), ...entries]);
      await failsWith(archive, "bomb.zip", "PAYLOAD_TOO_LARGE");
    });

    it("tar.gz bomb: 20 MB of zeros", async () => {
      const archive = rawTarGz([...legit(), { name: "train/coffee/bomb.jpg", data: zeros }]);
      assert.ok(archive.length < 200 * 1024, `the bomb is small (${archive.length} bytes)`);
      await failsWith(archive, "bomb.tar.gz", "PAYLOAD_TOO_LARGE");
    });
  });

  describe("400 for bytes that are not an archive, and malformed requests", () => {
    it("non-archive bytes are 400 INVALID_ARCHIVE", async () => {
      const res = await uploadDataset(
        stack,
        Buffer.from("hello, I am not an archive\n".repeat(40)),
        "data.zip",
      );
      assertError(res, 400, "INVALID_ARCHIVE");
    });

    it("a truncated zip is 400 INVALID_ARCHIVE", async () => {
      const zip = await rawZip(legit());
      await failsWith(zip.subarray(0, zip.length >> 1), "cut.zip", "INVALID_ARCHIVE");
    });

    it("a truncated tar.gz is 400 INVALID_ARCHIVE", async () => {
      const tgz = gzipSync(rawTar(legit()));
      await failsWith(tgz.subarray(0, tgz.length >> 1), "cut.tgz", "INVALID_ARCHIVE");
    });

    it("an empty file is 400 EMPTY_UPLOAD", async () => {
      assertError(await uploadDataset(stack, Buffer.alloc(0), "empty.zip"), 400, "EMPTY_UPLOAD");
    });

    it("multipart without the `file` field is 400 MISSING_FILE", async () => {
      const res = await request(stack.app.server).post("/v1/datasets").field("name", "no file");
      assertError(res, 400, "MISSING_FILE");
    });

    it("a file under another field name is 400", async () => {
      const res = await request(stack.app.server)
        .post("/v1/datasets")
        .attach("archive", await rawZip(legit()), "data.zip");
      assertError(res, 400);
      assert.match(res.body.error.message, /file/);
    });

    it("a JSON body is 415 UNSUPPORTED_MEDIA_TYPE", async () => {
      const res = await request(stack.app.server).post("/v1/datasets").send({ file: "data.zip" });
      assertError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
    });

    it("a raw zip body (application/zip) is 415", async () => {
      const res = await request(stack.app.server)
        .post("/v1/datasets")
        .set("content-type", "application/zip")
        .send(await rawZip(legit()));
      assertError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
    });
  });
});
