import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import tar, { type Header } from "tar-stream";
import { DEFAULT_COMPRESSION, parseCompression } from "../../../src/image/compression.js";
import { type LayerEntry, whiteoutName, writeLayer } from "../../../src/image/layer-writer.js";
import { PLACEHOLDER } from "../../../src/image/relocation.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";
import { uncompressedLayer } from "../../support/tar.js";

interface ReadEntry {
  header: Header;
  body: Buffer;
}


async function readLayer(file: string): Promise<ReadEntry[]> {
  const extract = tar.extract();
  const entries: ReadEntry[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      entries.push({ header: entry.header, body: Buffer.concat(chunks) });
    }
  })();
  extract.end(uncompressedLayer(await fs.readFile(file)));
  await done;
  return entries;
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

let temp = "";
let sources = "";
let outputs = 0;

before(async () => {
  temp = await makeTempDir("pypakr-unit-layer-");
  sources = path.join(temp, "src");
  await fs.mkdir(sources);
});

after(async () => {
  await removeDir(temp);
});

/** A fresh output path; writeLayer refuses to overwrite. */
function output(): string {
  outputs += 1;
  return path.join(temp, `layer-${outputs}.tar.gz`);
}

async function source(name: string, content: string | Buffer): Promise<{ source: string; size: number }> {
  const file = path.join(sources, name);
  await fs.writeFile(file, content);
  return { source: file, size: Buffer.byteLength(content) };
}

async function sampleEntries(): Promise<LayerEntry[]> {
  return [
    { type: "dir", path: "lib" },
    { type: "dir", path: "lib/pkg" },
    { type: "file", path: "lib/pkg/__init__.py", executable: false, ...(await source("init.py", "X = 1\n")) },
    { type: "file", path: "bin/tool", executable: true, ...(await source("tool", "#!/bin/sh\necho tool\n")) },
    { type: "symlink", path: "lib/current", link: "pkg" },
    { type: "whiteout", path: "lib/old" },
    { type: "file", path: "a.txt", executable: false, ...(await source("a.txt", "a")) },
  ];
}

describe("whiteoutName", () => {
  test("whiteoutName puts .wh. before the base name, in the same directory", () => {
    assert.equal(whiteoutName("gone"), ".wh.gone");
    assert.equal(whiteoutName("lib/pkg/gone.py"), "lib/pkg/.wh.gone.py");
  });
});

describe("writeLayer", () => {
  test("writeLayer writes the same bytes for the same entries in another order and at another time", async () => {
    const entries = await sampleEntries();
    const first = await writeLayer(entries, output());
    // Another time: the sources' mtimes change and the clock moves on; neither may show in the layer.
    for (const entry of entries) if (entry.type === "file" && "source" in entry) await fs.utimes(entry.source, new Date(2_000_000_000_000), new Date(2_000_000_000_000));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await writeLayer([...entries].reverse(), output());
    const shuffled = [entries[3], entries[0], entries[6], entries[5], entries[1], entries[4], entries[2]].filter((entry) => entry !== undefined);
    assert.equal(shuffled.length, entries.length);
    const third = await writeLayer(shuffled, output());

    assert.equal(second.digest, first.digest);
    assert.equal(third.digest, first.digest);
    assert.equal(second.diffId, first.diffId);
    assert.equal(second.size, first.size);
    assert.deepEqual(await fs.readFile(second.file), await fs.readFile(first.file));
  });

  test("writeLayer compresses with zstd level 3 by default and with gzip on request, around the same tar", async () => {
    const entries = await sampleEntries();
    const zstd = await writeLayer(entries, output());
    const gzip = await writeLayer(entries, output(), parseCompression("gzip"));
    assert.equal(zstd.mediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
    assert.equal(gzip.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert.deepEqual([...(await fs.readFile(zstd.file)).subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    assert.deepEqual([...(await fs.readFile(gzip.file)).subarray(0, 2)], [0x1f, 0x8b]);
    assert.equal(zstd.diffId, gzip.diffId);
    assert.deepEqual(await readLayer(zstd.file), await readLayer(gzip.file));
    assert.deepEqual(await writeLayer(entries, output(), DEFAULT_COMPRESSION).then((layer) => layer.digest), zstd.digest);
  });

  test("a layer's bytes do not depend on how its files were read (streamed or whole), for each codec", async () => {
    // 6 MiB that compress somewhat: a file this large is streamed in pieces, the same bytes as content are one piece.
    let state = 7;
    const big = Buffer.alloc(6 * 1024 * 1024 + 1234);
    for (let index = 0; index < big.length; index += 1) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      big[index] = index % 3 === 0 ? state & 0xff : 0x41 + (index % 26);
    }
    const streamed = await source("big.bin", big);
    for (const how of ["zstd", "gzip", "max"]) {
      const compression = parseCompression(how);
      const fromFile = await writeLayer([{ type: "file", path: "big.bin", executable: false, ...streamed }], output(), compression);
      const fromMemory = await writeLayer([{ type: "file", path: "big.bin", executable: false, content: big }], output(), compression);
      assert.equal(fromFile.digest, fromMemory.digest, how);
    }
  });

  test("writeLayer reports the compressed file's digest and size", async () => {
    const layer = await writeLayer(await sampleEntries(), output());
    const bytes = await fs.readFile(layer.file);
    assert.equal(layer.size, bytes.length);
    assert.equal(layer.digest, sha256(bytes));
  });

  test("writeLayer's diffId is the sha256 of the uncompressed tar", async () => {
    const layer = await writeLayer(await sampleEntries(), output());
    assert.equal(layer.diffId, sha256(uncompressedLayer(await fs.readFile(layer.file))));
    assert.notEqual(layer.diffId, layer.digest);
  });

  test("writeLayer sorts entries by their name in the archive", async () => {
    const layer = await writeLayer(await sampleEntries(), output());
    const names = (await readLayer(layer.file)).map((entry) => entry.header.name);
    assert.deepEqual(names, ["a.txt", "bin/tool", "lib", "lib/.wh.old", "lib/current", "lib/pkg", "lib/pkg/__init__.py"]);
    assert.deepEqual(names, [...names].sort());
  });

  test("writeLayer sorts by byte order, not locale", async () => {
    const entries: LayerEntry[] = [
      { type: "dir", path: "b" },
      { type: "dir", path: "B" },
      { type: "dir", path: "a-b" },
      { type: "dir", path: "a_b" },
      { type: "dir", path: "a.b" },
    ];
    const names = (await readLayer((await writeLayer(entries, output())).file)).map((entry) => entry.header.name);
    assert.deepEqual(names, ["B", "a-b", "a.b", "a_b", "b"]);
  });

  test("writeLayer writes owner 0:0, no user or group names, mtime 0 and 0644/0755 modes", async () => {
    const layer = await writeLayer(await sampleEntries(), output());
    const entries = await readLayer(layer.file);
    for (const { header } of entries) {
      assert.equal(header.uid, 0, header.name);
      assert.equal(header.gid, 0, header.name);
      assert.ok(!header.uname, `${header.name} has uname ${header.uname}`);
      assert.ok(!header.gname, `${header.name} has gname ${header.gname}`);
      assert.equal(header.mtime.getTime(), 0, header.name);
    }
    const byName = new Map(entries.map((entry) => [entry.header.name, entry]));
    const modeOf = (name: string) => (byName.get(name)?.header.mode ?? -1) & 0o7777;
    assert.equal(modeOf("lib"), 0o755);
    assert.equal(byName.get("lib")?.header.type, "directory");
    assert.equal(modeOf("bin/tool"), 0o755);
    assert.equal(modeOf("a.txt"), 0o644);
    assert.equal(byName.get("lib/current")?.header.type, "symlink");
    assert.equal(byName.get("lib/current")?.header.linkname, "pkg");
  });

  test("writeLayer stores file contents unchanged", async () => {
    const layer = await writeLayer(await sampleEntries(), output());
    const byName = new Map((await readLayer(layer.file)).map((entry) => [entry.header.name, entry.body.toString()]));
    assert.equal(byName.get("bin/tool"), "#!/bin/sh\necho tool\n");
    assert.equal(byName.get("lib/pkg/__init__.py"), "X = 1\n");
  });

  test("writeLayer writes a whiteout as an empty regular file named .wh.NAME in the entry's directory", async () => {
    const entries: LayerEntry[] = [
      { type: "whiteout", path: "top" },
      { type: "whiteout", path: "lib/python3.11/site-packages/old_pkg" },
    ];
    const read = await readLayer((await writeLayer(entries, output())).file);
    assert.deepEqual(
      read.map(({ header, body }) => [header.name, header.type, header.size, body.length]),
      [
        [".wh.top", "file", 0, 0],
        ["lib/python3.11/site-packages/.wh.old_pkg", "file", 0, 0],
      ],
    );
  });

  test("writeLayer applies a rewrite to a file's content and records the new size", async () => {
    const work = `/work/${"w".repeat(PLACEHOLDER.length - 6)}`;
    assert.equal(work.length, PLACEHOLDER.length);
    const content = `#!${work}/bin/python\nhome = ${work}\nother = /elsewhere\n`;
    const { source: file, size } = await source("rewrite.py", content);
    const shorter = await source("shorter.cfg", "prefix=/long/work/path/x\n");
    const entries: LayerEntry[] = [
      { type: "file", path: "bin/script", executable: true, source: file, size, rewrite: { from: work, to: PLACEHOLDER } },
      { type: "file", path: "etc/shorter.cfg", executable: false, ...shorter, rewrite: { from: "/long/work/path", to: "/p" } },
    ];
    const byName = new Map((await readLayer((await writeLayer(entries, output())).file)).map((entry) => [entry.header.name, entry]));
    assert.equal(byName.get("bin/script")?.body.toString(), `#!${PLACEHOLDER}/bin/python\nhome = ${PLACEHOLDER}\nother = /elsewhere\n`);
    assert.equal(byName.get("etc/shorter.cfg")?.body.toString(), "prefix=/p/x\n");
    assert.equal(byName.get("etc/shorter.cfg")?.header.size, "prefix=/p/x\n".length);
    // The source file itself is not modified.
    assert.equal(await fs.readFile(file, "utf8"), content);
  });

  test("writeLayer writes a valid empty layer", async () => {
    const layer = await writeLayer([], output());
    assert.deepEqual(await readLayer(layer.file), []);
    assert.equal(layer.diffId, sha256(uncompressedLayer(await fs.readFile(layer.file))));
  });

  test("writeLayer refuses to overwrite an existing file", async () => {
    const file = output();
    await fs.writeFile(file, "existing");
    await assert.rejects(writeLayer([{ type: "dir", path: "x" }], file));
    assert.equal(await fs.readFile(file, "utf8"), "existing");
  });

  test("writeLayer fails when a file entry's source is missing", async () => {
    const entries: LayerEntry[] = [{ type: "file", path: "gone", executable: false, source: path.join(sources, "does-not-exist"), size: 3 }];
    await assert.rejects(writeLayer(entries, output()));
  });
});
