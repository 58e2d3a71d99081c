import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";
import * as tar from "tar";
import yazl from "yazl";
import { extractArchive } from "../../src/datasets/archive.js";
import { detectLayout } from "../../src/datasets/layout.js";
import { AppError } from "../../src/errors.js";

import { tarHeader } from "../helpers/archives.js";

const MiB = 1024 * 1024;
const LIMITS = { maxFiles: 100, maxUnpackedBytes: 10 * MiB };
const roots: string[] = [];
after(() => Promise.all(roots.map((dir) => rm(dir, { recursive: true, force: true }))));

/** A fresh temp folder; the archive goes in it and extraction into `work/dest` (not created). */
async function sandbox() {
  const root = await mkdtemp(path.join(tmpdir(), "archive-test-"));
  roots.push(root);
  return { root, archive: path.join(root, "upload.bin"), dest: path.join(root, "work", "dest") };
}

type ZipEntry = { name: string; data?: Buffer | string; mode?: number; dir?: boolean; compress?: boolean };

/** Builds a zip with yazl; `raw` maps a placeholder name (same byte length) to the bytes really stored. */
async function zipBuffer(entries: ZipEntry[], raw: Record<string, string> = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.dir) zip.addEmptyDirectory(e.name);
    else zip.addBuffer(Buffer.from(e.data ?? e.name), e.name, { mode: e.mode, compress: e.compress ?? true });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  let bytes = Buffer.concat(chunks);
  for (const [placeholder, name] of Object.entries(raw)) {
    const from = Buffer.from(placeholder);
    const to = Buffer.from(name);
    assert.equal(from.length, to.length);
    let found = 0;
    for (let i = bytes.indexOf(from); i !== -1; i = bytes.indexOf(from, i + 1), found++) to.copy(bytes, i);
    assert.equal(found, 2, "name patched in the local header and the central directory");
    bytes = Buffer.from(bytes);
  }
  return bytes;
}

/** A ustar header written by hand, so any name, type and checksum can be stored. */
type TarEntry = { name: string; data?: Buffer | string; type?: string; linkname?: string };

function rawTar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.data ?? "");
    blocks.push(tarHeader(e.name, body.length, e.type, e.linkname), body);
    blocks.push(Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Writes `files` (path -> content) under `dir` and packs `dir` with node-tar. */
async function tarOfTree(dir: string, files: Record<string, string>, file: string, gzip: boolean) {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  await tar.c({ gzip, file, cwd: dir, portable: true }, await readdir(dir));
}

/** Every path under `dir`, relative, sorted. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map((p) => p.split(path.sep).join("/")).sort();
}

async function rejectsWith(promise: Promise<unknown>, status: number, code: string, text?: string) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.statusCode, status, err.message);
    assert.equal(err.code, code, err.message);
    if (text) assert.ok(err.message.includes(text), `${JSON.stringify(err.message)} names ${text}`);
    return true;
  });
}

const JUNK: Record<string, string> = {
  "Cat_Dog_data/.DS_Store": "junk",
  "Cat_Dog_data/.git/config": "junk",
  "Cat_Dog_data/train/Thumbs.db": "junk",
  "Cat_Dog_data/train/cat/desktop.ini": "junk",
  "__MACOSX/Cat_Dog_data/train/cat/._1.jpg": "junk",
};
const LAYOUTS: { layout: string; images: Record<string, string>; test?: number }[] = [
  {
    layout: "wrapped split layout",
    images: {
      "Cat_Dog_data/train/cat/1.jpg": "cat one",
      "Cat_Dog_data/train/dog/2.jpg": "dog two",
      "Cat_Dog_data/train/dog/deep/3.PNG": "dog three",
      "Cat_Dog_data/test/cat/4.jpg": "cat four",
      "Cat_Dog_data/test/dog/5.webp": "dog five",
    },
    test: 2,
  },
  {
    layout: "class-folder layout",
    images: { "cat/a.jpg": "a", "dog/b.jpeg": "b", "dog/sub/c.png": "c" },
  },
];

/** Each file of `files` and every folder above it. */
function treeOf(files: string[]): string[] {
  const all = new Set<string>();
  for (const parts of files.map((f) => f.split("/"))) {
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join("/"));
  }
  return [...all].sort();
}

for (const format of ["zip", "tar", "tar.gz"] as const) {
  for (const { layout, images, test: testCount } of LAYOUTS) {
    test(`${format}: ${layout} is extracted and detected, junk ignored`, async () => {
      const box = await sandbox();
      const files: Record<string, string> = { ...images, ...JUNK };
      if (format === "zip") {
        const dirs = treeOf(Object.keys(files)).filter((p) => !(p in files));
        const entries = [
          ...dirs.map((name) => ({ name, dir: true })),
          ...Object.keys(files).map((name) => ({ name, data: files[name] })),
        ];
        await writeFile(box.archive, await zipBuffer(entries));
      } else {
        await tarOfTree(path.join(box.root, "src"), files, box.archive, format === "tar.gz");
      }
      const result = await extractArchive(box.archive, box.dest, LIMITS);
      const expected = Object.keys(images).sort();
      assert.deepEqual(result.files, expected);
      assert.deepEqual(await listTree(box.dest), treeOf(expected));
      for (const f of expected) assert.equal(await readFile(path.join(box.dest, f), "utf8"), images[f]);
      for (const junk of Object.keys(JUNK))
        assert.ok(result.ignored.includes(junk), `${junk} listed as ignored`);
      assert.ok(result.ignored.includes("__MACOSX/"), "directory entries listed as ignored");
      const detected = detectLayout(result.files);
      assert.deepEqual(detected.classes, ["cat", "dog"]);
      assert.equal(detected.splits.train.length, 3);
      assert.equal(detected.splits.test?.length, testCount);
    });
  }
}

test("format comes from the bytes, not the name; a pre-created empty destination is used", async () => {
  const box = await sandbox();
  const archive = path.join(box.root, "photos.zip");
  await writeFile(
    archive,
    gzipSync(
      rawTar([
        { name: "cat/x.jpg", data: "x" },
        { name: "dog/y.jpg", data: "y" },
      ]),
    ),
  );
  await mkdir(box.dest, { recursive: true });
  const result = await extractArchive(archive, box.dest, LIMITS);
  assert.deepEqual(result, {
    files: ["cat/x.jpg", "dog/y.jpg"],
    ignored: [],
    ignoredCount: 0,
    oversized: [],
  });
});

test("keep/onFile: only kept files are written and handed over whole; the rest is counted, oversized dropped", async () => {
  const box = await sandbox();
  const archive = path.join(box.root, "a.tar");
  const big = Buffer.alloc(5000, 7);
  await writeFile(
    archive,
    rawTar([
      { name: "cat/x.jpg", data: "x-bytes" },
      { name: "cat/notes.txt", data: Buffer.alloc(3000, 1) },
      { name: "dog/big.jpg", data: big },
      ...Array.from({ length: 1005 }, (_, i) => ({ name: `junk/${i}.bin`, data: "j" })),
    ]),
  );
  const seen = new Map<string, string>();
  const result = await extractArchive(archive, box.dest, LIMITS, {
    keep: (rel) => rel.endsWith(".jpg"),
    maxFileBytes: 4096,
    concurrency: 2,
    onFile: async (rel, bytes) => {
      seen.set(rel, bytes.toString());
    },
  });
  assert.deepEqual(result.files, ["cat/x.jpg"]);
  assert.deepEqual([...seen], [["cat/x.jpg", "x-bytes"]]);
  assert.deepEqual(result.oversized, ["dog/big.jpg"]);
  assert.equal(result.ignoredCount, 1006, "every skipped file is counted");
  assert.equal(result.ignored.length, 1000, "but at most 1000 are listed");
  const written = await readdir(box.dest, { recursive: true });
  assert.deepEqual(written.sort(), ["cat", "cat/x.jpg"], "nothing but the kept image is on disk");
});

test("a non-empty destination is refused without touching it", async () => {
  const box = await sandbox();
  await writeFile(box.archive, await zipBuffer([{ name: "cat/x.jpg" }]));
  await mkdir(box.dest, { recursive: true });
  await writeFile(path.join(box.dest, "keep.txt"), "mine");
  await assert.rejects(extractArchive(box.archive, box.dest, LIMITS), /not empty/);
  assert.deepEqual(await readdir(box.dest), ["keep.txt"]);
});

const EVIL = [
  "../evil.txt",
  "a/../../evil.txt",
  "..\\evil.txt",
  "C:\\evil.txt",
  "\\\\server\\share\\evil.txt",
];

/** Checks that nothing but the archive (and an empty or absent destination) is left in the sandbox. */
async function assertNothingLeft(box: { root: string; archive: string; dest: string }, keptDest = false) {
  const left = (await listTree(box.root)).filter((p) => p !== path.basename(box.archive) && p !== "work");
  assert.deepEqual(left, keptDest ? ["work/dest"] : []);
}

for (const format of ["zip", "tar", "tar.gz"] as const) {
  for (const name of [...EVIL, "ABSOLUTE", ...(format === "zip" ? ["nul\0evil.txt"] : [])]) {
    test(`${format}: entry ${JSON.stringify(name)} rejects the whole archive`, async () => {
      const box = await sandbox();
      const evil = name === "ABSOLUTE" ? path.join(box.root, "abs-evil.txt") : name;
      if (format === "zip") {
        const placeholder = "Z".repeat(Buffer.byteLength(evil));
        const entries = [{ name: "cat/ok.jpg" }, { name: placeholder, data: "pwned" }];
        await writeFile(box.archive, await zipBuffer(entries, { [placeholder]: evil }));
      } else {
        const bytes = rawTar([
          { name: "cat/ok.jpg", data: "ok" },
          { name: evil, data: "pwned" },
        ]);
        await writeFile(box.archive, format === "tar" ? bytes : gzipSync(bytes));
      }
      if (name === "ABSOLUTE") await mkdir(box.dest, { recursive: true });
      await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "UNSAFE_ARCHIVE", "evil.txt");
      await assertNothingLeft(box, name === "ABSOLUTE");
    });
  }
}

test("tar: a symlink packed from disk by node-tar is refused", async () => {
  const box = await sandbox();
  const src = path.join(box.root, "src");
  await mkdir(path.join(src, "cat"), { recursive: true });
  await writeFile(path.join(src, "cat", "a.jpg"), "a");
  await symlink("/etc/passwd", path.join(src, "cat", "b.jpg"));
  await tar.c({ gzip: true, file: box.archive, cwd: src, portable: true }, ["cat"]);
  await rm(src, { recursive: true });
  await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "UNSAFE_ARCHIVE", "cat/b.jpg");
  await assertNothingLeft(box);
});

for (const [type, what] of [
  ["1", "hardlink"],
  ["2", "symlink"],
  ["3", "device"],
  ["6", "fifo"],
] as const) {
  test(`tar: a ${what} entry is refused`, async () => {
    const box = await sandbox();
    const bytes = rawTar([
      { name: "cat/a.jpg", data: "a" },
      { name: "cat/b.jpg", type, linkname: type === "1" || type === "2" ? "cat/a.jpg" : "" },
    ]);
    await writeFile(box.archive, bytes);
    await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "UNSAFE_ARCHIVE", what);
    await assertNothingLeft(box);
  });
}

test("zip: a symlink (unix mode 0o120000 in the external attributes) is refused", async () => {
  const box = await sandbox();
  const entries = [{ name: "cat/a.jpg" }, { name: "cat/b.jpg", data: "/etc/passwd", mode: 0o120777 }];
  await writeFile(box.archive, await zipBuffer(entries));
  await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "UNSAFE_ARCHIVE", "symlink");
  await assertNothingLeft(box);
});

test("zip: duplicated entries are refused", async () => {
  const box = await sandbox();
  await writeFile(
    box.archive,
    await zipBuffer([{ name: "cat/a.jpg" }, { name: "cat/a.jpg", data: "again" }]),
  );
  await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "INVALID_ARCHIVE", "cat/a.jpg");
  await assertNothingLeft(box);
});

test("zip bomb: 50 MB of zeros with a 10 MB limit is a quick 413", async () => {
  const box = await sandbox();
  await writeFile(
    box.archive,
    await zipBuffer([{ name: "cat/a.jpg" }, { name: "cat/bomb.jpg", data: Buffer.alloc(50 * MiB) }]),
  );
  const started = Date.now();
  await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 413, "PAYLOAD_TOO_LARGE", "ratio");
  assert.ok(Date.now() - started < 2000, "refused before inflating");
  await assertNothingLeft(box);
});

test("zip bomb whose declared size lies is stopped while inflating", async () => {
  const box = await sandbox();
  const bytes = await zipBuffer([{ name: "cat/bomb.jpg", data: Buffer.alloc(50 * MiB) }]);
  const central = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  bytes.writeUInt32LE(40_000, central + 24);
  await writeFile(box.archive, bytes);
  const started = Date.now();
  await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "INVALID_ARCHIVE", "too many bytes");
  assert.ok(Date.now() - started < 2000);
  await assertNothingLeft(box);
});

test("zip: honest entries adding up past the byte limit are a 413 and the partial files are removed", async () => {
  const box = await sandbox();
  const entries = [1, 2, 3].map((i) => ({
    name: `cat/${i}.jpg`,
    data: randomBytes(4 * MiB),
    compress: false,
  }));
  await writeFile(box.archive, await zipBuffer(entries));
  await rejectsWith(
    extractArchive(box.archive, box.dest, LIMITS),
    413,
    "PAYLOAD_TOO_LARGE",
    String(10 * MiB),
  );
  await assertNothingLeft(box);
});

test("tar.gz bomb: 50 MB of zeros with a 10 MB limit is a quick 413", async () => {
  const box = await sandbox();
  const bytes = rawTar([
    { name: "cat/a.jpg", data: "a" },
    { name: "cat/bomb.jpg", data: Buffer.alloc(50 * MiB) },
  ]);
  await writeFile(box.archive, gzipSync(bytes));
  const started = Date.now();
  await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 413, "PAYLOAD_TOO_LARGE");
  assert.ok(Date.now() - started < 5000, "stopped at the limit, not after 50 MB");
  await assertNothingLeft(box);
});

test("tar: bytes of skipped (hidden) entries count toward the limit", async () => {
  const box = await sandbox();
  await writeFile(box.archive, gzipSync(rawTar([{ name: ".hidden/big", data: Buffer.alloc(11 * MiB) }])));
  await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 413, "PAYLOAD_TOO_LARGE");
  await assertNothingLeft(box);
});

for (const format of ["zip", "tar"] as const) {
  test(`${format}: more files than maxFiles is a 413`, async () => {
    const box = await sandbox();
    const names = [1, 2, 3, 4, 5].map((i) => `cat/${i}.jpg`);
    const bytes =
      format === "zip"
        ? await zipBuffer(names.map((name) => ({ name })))
        : rawTar(names.map((name) => ({ name })));
    await writeFile(box.archive, bytes);
    await rejectsWith(
      extractArchive(box.archive, box.dest, { ...LIMITS, maxFiles: 3 }),
      413,
      "PAYLOAD_TOO_LARGE",
      "3 files",
    );
    await assertNothingLeft(box);
  });
}

test("a text file and random bytes are 400 INVALID_ARCHIVE; an empty file is 400 EMPTY_UPLOAD", async () => {
  const box = await sandbox();
  await writeFile(box.archive, "hello, this is not an archive\n");
  await rejectsWith(
    extractArchive(box.archive, box.dest, LIMITS),
    400,
    "INVALID_ARCHIVE",
    "not a zip or tar",
  );
  const noise = randomBytes(4096);
  noise[0] = 0x42;
  await writeFile(box.archive, noise);
  await rejectsWith(
    extractArchive(box.archive, box.dest, LIMITS),
    400,
    "INVALID_ARCHIVE",
    "not a zip or tar",
  );
  await writeFile(box.archive, "");
  await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "EMPTY_UPLOAD");
  await assertNothingLeft(box);
});

const PAYLOAD = [1, 2, 3].map((i) => ({ name: `cat/${i}.jpg`, data: randomBytes(64 * 1024) }));

for (const format of ["zip", "tar", "tar.gz"] as const) {
  test(`${format}: a truncated archive is 400 INVALID_ARCHIVE`, async () => {
    const box = await sandbox();
    const whole =
      format === "zip"
        ? await zipBuffer(PAYLOAD)
        : format === "tar"
          ? rawTar(PAYLOAD)
          : gzipSync(rawTar(PAYLOAD));
    await writeFile(box.archive, whole.subarray(0, Math.floor(whole.length / 2)));
    await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "INVALID_ARCHIVE", format);
    await assertNothingLeft(box);
  });
}

test("tar: a header with a bad checksum is 400 INVALID_ARCHIVE (strict parsing)", async () => {
  const box = await sandbox();
  const bytes = rawTar([
    { name: "cat/a.jpg", data: "a" },
    { name: "dog/b.jpg", data: "b" },
  ]);
  bytes[1024] ^= 0x01;
  await writeFile(box.archive, bytes);
  await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "INVALID_ARCHIVE", "checksum");
  await assertNothingLeft(box);
});

test("tar.gz cut at many points always settles with 400 and leaves nothing (no hang mid-entry)", async () => {
  const box = await sandbox();
  const whole = gzipSync(rawTar(PAYLOAD));
  for (let cut = 0.05; cut < 1; cut += 0.05) {
    await writeFile(box.archive, whole.subarray(0, Math.floor(whole.length * cut)));
    await rejectsWith(extractArchive(box.archive, box.dest, LIMITS), 400, "INVALID_ARCHIVE");
    await assertNothingLeft(box);
  }
});
