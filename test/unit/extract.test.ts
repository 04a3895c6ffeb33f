/**
 * extractTar against crafted archives, in the shape of containerd's
 * TestBreakouts: each hostile archive must be refused with a PypakrError that
 * names the bad entry, and must leave everything outside the target alone.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { checkSymlinks, extractTar, type ExtractOptions } from "../../src/image/extract.js";
import type { RelocationKind } from "../../src/image/format.js";
import { PLACEHOLDER } from "../../src/image/relocation.js";
import { PypakrError } from "../../src/util/errors.js";
import { listTree, makeTempDir, removeDir } from "../support/helpers.js";

type EntryType = "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";

interface Entry {
  name: string;
  type?: EntryType;
  linkname?: string;
  mode?: number;
  body?: string | Buffer;
}

async function tarBytes(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const { body, type = "file", mode, ...rest } of entries) {
    const bytes = typeof body === "string" ? Buffer.from(body) : (body ?? Buffer.alloc(0));
    const devices = type === "character-device" || type === "block-device" ? { devmajor: 1, devminor: 3 } : {};
    pack.entry({ type, mode: mode ?? (type === "directory" ? 0o755 : 0o644), mtime: new Date(0), ...devices, ...rest }, bytes);
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

const LAYER: ExtractOptions = { what: "test layer", whiteouts: "apply", reserved: new Set([".pypakr"]) };
const SENTINEL = "do not touch\n";

let scratch = "";
let caseNumber = 0;

before(async () => {
  scratch = await makeTempDir("pypakr-unit-extract-");
});

after(async () => {
  await removeDir(scratch);
});

interface Workspace {
  /** Holds root/, the sentinel beside it and the archive. */
  temp: string;
  root: string;
  sentinel: string;
  archive: string;
}

/** A fresh dir with `root/` (the extraction target), `sentinel` beside it, and the archive written out. */
async function workspace(entries: Entry[] | Buffer, options: { gzip?: boolean } = {}): Promise<Workspace> {
  caseNumber += 1;
  const temp = path.join(scratch, `case-${caseNumber}`);
  const root = path.join(temp, "root");
  await fs.mkdir(root, { recursive: true });
  const sentinel = path.join(temp, "sentinel");
  await fs.writeFile(sentinel, SENTINEL);
  const raw = Buffer.isBuffer(entries) ? entries : await tarBytes(entries);
  const archive = path.join(temp, options.gzip ? "layer.tar.gz" : "layer.tar");
  await fs.writeFile(archive, options.gzip ? gzipSync(raw) : raw);
  return { temp, root, sentinel, archive };
}

/** Everything in the workspace that is not under root/. */
async function outside(ws: Workspace): Promise<string[]> {
  return (await listTree(ws.temp)).filter((entry) => entry !== "root" && !entry.startsWith("root/"));
}

/** Symlinks under root whose target exists and is not inside root. */
async function escapingSymlinks(root: string): Promise<string[]> {
  const escaping: string[] = [];
  for (const relative of await listTree(root)) {
    const full = path.join(root, relative);
    if (!(await fs.lstat(full)).isSymbolicLink()) continue;
    const resolved = await fs.realpath(full).catch(() => null);
    if (resolved !== null && resolved !== root && !resolved.startsWith(`${root}/`)) escaping.push(`${relative} -> ${resolved}`);
  }
  return escaping;
}

async function assertRefused(ws: Workspace, entryName: string, options: ExtractOptions = LAYER): Promise<PypakrError> {
  const before = await outside(ws);
  // Links an earlier layer planted are the test's doing; only new escapes count.
  const escapingBefore = await escapingSymlinks(ws.root);
  let caught: unknown = null;
  try {
    await extractTar(ws.archive, ws.root, options);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof PypakrError, `expected a PypakrError, got ${caught instanceof Error ? (caught.stack ?? caught.message) : JSON.stringify(caught)}`);
  assert.ok(caught.message.includes(`"${entryName}"`), `the message should name the entry "${entryName}": ${caught.message}`);
  assert.equal(await fs.readFile(ws.sentinel, "utf8"), SENTINEL, "the sentinel outside root changed");
  assert.deepEqual(await outside(ws), before, "something outside root was created or removed");
  const escapingAfter = (await escapingSymlinks(ws.root)).filter((link) => !escapingBefore.includes(link));
  assert.deepEqual(escapingAfter, [], "a symlink inside root points outside it");
  return caught;
}

async function mode(file: string): Promise<number> {
  return (await fs.lstat(file)).mode & 0o7777;
}

interface Breakout {
  name: string;
  /** The entry the error must name (normalized, or raw when the name itself is bad). */
  entry: string;
  /** Builds the archive; given the workspace paths for absolute targets. */
  entries: (ws: { temp: string; sentinel: string }) => Entry[];
  /** Puts what an earlier layer left into root before extracting. */
  prepare?: (ws: Workspace) => Promise<void>;
  message?: RegExp;
}

const breakouts: Breakout[] = [
  { name: "a file named ../sentinel", entry: "../sentinel", entries: () => [{ name: "../sentinel", body: "pwned" }], message: /'\.\.'/ },
  { name: "an absolute file name", entry: "/abs", entries: () => [{ name: "/abs", body: "pwned" }], message: /absolute/ },
  {
    name: "an absolute name pointing at the sentinel",
    entry: "SENTINEL",
    entries: (ws) => [{ name: ws.sentinel, body: "pwned" }],
    message: /absolute/,
  },
  { name: "a name that climbs out after descending", entry: "a/../../x", entries: () => [{ name: "a/../../x", body: "pwned" }] },
  { name: "a name with a backslash", entry: "..\\sentinel", entries: () => [{ name: "..\\sentinel", body: "pwned" }], message: /backslash/ },
  {
    name: "a symlink to .. followed by a file through it",
    entry: "link",
    entries: () => [
      { name: "link", type: "symlink", linkname: ".." },
      { name: "link/sentinel", body: "pwned" },
    ],
    message: /outside the target/,
  },
  { name: "a symlink to ../", entry: "out", entries: () => [{ name: "out", type: "symlink", linkname: "../" }], message: /outside the target/ },
  {
    name: "a nested symlink climbing out",
    entry: "a/b/up",
    entries: () => [
      { name: "a/b/", type: "directory" },
      { name: "a/b/up", type: "symlink", linkname: "../../../sentinel" },
    ],
  },
  {
    name: "a symlink to an absolute path",
    entry: "abs",
    entries: (ws) => [{ name: "abs", type: "symlink", linkname: ws.sentinel }],
    message: /absolute path/,
  },
  {
    name: "a symlink to the target itself",
    entry: "d",
    entries: () => [
      { name: "d", type: "symlink", linkname: "." },
      { name: "d/f", body: "x" },
    ],
    message: /the target itself/,
  },
  {
    name: "a file written through a symlink to a real dir",
    entry: "d/f",
    entries: () => [
      { name: "sub/", type: "directory" },
      { name: "d", type: "symlink", linkname: "sub" },
      { name: "d/f", body: "through the link" },
    ],
    message: /through the symlink "d"/,
  },
  {
    name: "a directory written through a symlink",
    entry: "d/inner",
    entries: () => [
      { name: "sub/", type: "directory" },
      { name: "d", type: "symlink", linkname: "sub" },
      { name: "d/inner/", type: "directory" },
    ],
  },
  {
    name: "a file written through a symlink an earlier layer left pointing outside",
    entry: "lib/sentinel",
    prepare: async (ws) => fs.symlink("..", path.join(ws.root, "lib")),
    entries: () => [{ name: "lib/sentinel", body: "pwned" }],
    message: /through the symlink "lib"/,
  },
  { name: "a hard link to ../sentinel", entry: "h", entries: () => [{ name: "h", type: "link", linkname: "../sentinel" }] },
  {
    name: "a hard link to the sentinel's absolute path",
    entry: "h",
    entries: (ws) => [{ name: "h", type: "link", linkname: ws.sentinel }],
  },
  {
    name: "a hard link through a symlinked parent",
    entry: "h",
    entries: () => [
      { name: "sub/", type: "directory" },
      { name: "sub/f", body: "x" },
      { name: "l", type: "symlink", linkname: "sub" },
      { name: "h", type: "link", linkname: "l/f" },
    ],
    message: /through the symlink "l"/,
  },
  {
    name: "a hard link through a symlink an earlier layer left pointing outside",
    entry: "h",
    prepare: async (ws) => fs.symlink("..", path.join(ws.root, "up")),
    entries: () => [{ name: "h", type: "link", linkname: "up/sentinel" }],
  },
  {
    name: "a hard link to a symlink that points outside",
    entry: "h",
    prepare: async (ws) => fs.symlink("../sentinel", path.join(ws.root, "s")),
    entries: () => [{ name: "h", type: "link", linkname: "s" }],
    message: /not a regular file/,
  },
  { name: "a hard link to a missing file", entry: "h", entries: () => [{ name: "h", type: "link", linkname: "nothing" }], message: /not a regular file/ },
  { name: "a character device", entry: "null", entries: () => [{ name: "null", type: "character-device" }], message: /character-device/ },
  { name: "a block device", entry: "sda", entries: () => [{ name: "sda", type: "block-device" }] },
  { name: "a fifo", entry: "pipe", entries: () => [{ name: "pipe", type: "fifo" }], message: /fifo/ },
  { name: "a whiteout of ..", entry: ".wh..", entries: () => [{ name: ".wh.." }], message: /names no file/ },
  { name: "a whiteout with an empty name", entry: ".wh.", entries: () => [{ name: ".wh." }], message: /names no file/ },
  { name: "a whiteout of .", entry: "sub/.wh..", entries: () => [{ name: "sub/.wh.." }], message: /names no file/ },
  {
    name: "a non-empty whiteout",
    entry: ".wh.victim",
    prepare: async (ws) => fs.writeFile(path.join(ws.root, "victim"), "lower layer"),
    entries: () => [{ name: ".wh.victim", body: "not empty" }],
    message: /not an empty regular file/,
  },
  {
    name: "a whiteout that is a directory",
    entry: ".wh.victim",
    entries: () => [{ name: ".wh.victim/", type: "directory" }],
    message: /not an empty regular file/,
  },
  {
    name: "a whiteout through a symlink pointing outside",
    entry: "l/.wh.sentinel",
    prepare: async (ws) => fs.symlink("..", path.join(ws.root, "l")),
    entries: () => [{ name: "l/.wh.sentinel" }],
    message: /through the symlink "l"/,
  },
  {
    name: "an opaque whiteout through a symlink pointing outside",
    entry: "l/.wh..wh..opq",
    prepare: async (ws) => fs.symlink("..", path.join(ws.root, "l")),
    entries: () => [{ name: "l/.wh..wh..opq" }],
    message: /through the symlink "l"/,
  },
  { name: "an opaque whiteout of the whole tree", entry: ".wh..wh..opq", entries: () => [{ name: ".wh..wh..opq" }], message: /whole tree/ },
  { name: "an entry into .pypakr/", entry: ".pypakr/image.json", entries: () => [{ name: ".pypakr/image.json", body: "{}" }], message: /pypakr's own/ },
  { name: "a directory named .pypakr", entry: ".pypakr", entries: () => [{ name: "./.pypakr/", type: "directory" }], message: /pypakr's own/ },
  {
    name: "a hard link into .pypakr/",
    entry: "h",
    prepare: async (ws) => {
      await fs.mkdir(path.join(ws.root, ".pypakr"));
      await fs.writeFile(path.join(ws.root, ".pypakr", "meta"), "pypakr's");
    },
    entries: () => [{ name: "h", type: "link", linkname: ".pypakr/meta" }],
    message: /pypakr's own/,
  },
  { name: "a symlink resolving to itself", entry: "self", entries: () => [{ name: "self", type: "symlink", linkname: "self" }], message: /itself/ },
  {
    name: "a nested symlink resolving to itself",
    entry: "a/self",
    entries: () => [{ name: "a/self", type: "symlink", linkname: "../a/./self" }],
    message: /itself/,
  },
  { name: "a symlink with an empty target", entry: "empty", entries: () => [{ name: "empty", type: "symlink", linkname: "" }] },
  { name: "a file entry for the target itself", entry: ".", entries: () => [{ name: ".", body: "x" }], message: /target directory itself/ },
  // Chains: each link reads as inside the tree, but the kernel follows the first link before applying "..".
  {
    name: "a symlink that reaches the sentinel through another symlink",
    entry: "y",
    entries: () => [
      { name: "sub/deep/", type: "directory" },
      { name: "sub/deep/up", type: "symlink", linkname: ".." },
      { name: "y", type: "symlink", linkname: "sub/deep/up/../../sentinel" },
    ],
    message: /leads outside the target/,
  },
  {
    name: "a symlink that reaches root's parent through another symlink",
    entry: "y",
    entries: () => [
      { name: "sub/deep/up", type: "symlink", linkname: ".." },
      { name: "y", type: "symlink", linkname: "sub/deep/up/../.." },
    ],
  },
  {
    name: "a symlink that reaches the target itself through another symlink",
    entry: "z",
    entries: () => [
      { name: "a/b/up", type: "symlink", linkname: ".." },
      { name: "z", type: "symlink", linkname: "a/b/up/.." },
    ],
  },
  {
    name: "a symlink made before the link it escapes through",
    entry: "y",
    entries: () => [
      { name: "y", type: "symlink", linkname: "sub/deep/up/../../sentinel" },
      { name: "sub/deep/up", type: "symlink", linkname: ".." },
    ],
  },
  {
    name: "a symlink escaping through a link that an earlier layer left",
    entry: "y",
    prepare: async (ws) => {
      await fs.mkdir(path.join(ws.root, "sub", "deep"), { recursive: true });
      await fs.symlink("..", path.join(ws.root, "sub", "deep", "up"));
    },
    entries: () => [{ name: "y", type: "symlink", linkname: "sub/deep/up/../../sentinel" }],
  },
  {
    name: "a pair of symlinks pointing at each other",
    entry: "loop1",
    entries: () => [
      { name: "loop1", type: "symlink", linkname: "loop2" },
      { name: "loop2", type: "symlink", linkname: "loop1" },
    ],
  },
];

describe("extractTar refuses breakouts", () => {
  for (const breakout of breakouts) {
    test(`extractTar refuses ${breakout.name} and leaves everything outside root alone`, async () => {
      // Absolute targets need the workspace's own paths, so the archive is written once they are known.
      const ws = await workspace([]);
      await fs.writeFile(ws.archive, await tarBytes(breakout.entries(ws)));
      await breakout.prepare?.(ws);
      const entry = breakout.entry === "SENTINEL" ? ws.sentinel : breakout.entry;
      const error = await assertRefused(ws, entry);
      if (breakout.message) assert.match(error.message, breakout.message);
      assert.match(error.message, /^test layer: /);
    });
  }
});

describe("extractTar keeps lower layers' links from being followed", () => {
  test("extractTar replaces an existing symlink with a file instead of writing through it", async () => {
    const ws = await workspace([{ name: "f", body: "new content" }]);
    await fs.symlink("../sentinel", path.join(ws.root, "f"));
    await extractTar(ws.archive, ws.root, LAYER);
    assert.ok((await fs.lstat(path.join(ws.root, "f"))).isFile());
    assert.equal(await fs.readFile(path.join(ws.root, "f"), "utf8"), "new content");
    assert.equal(await fs.readFile(ws.sentinel, "utf8"), SENTINEL);
  });

  test("extractTar replaces an existing hard link instead of writing into the shared inode", async () => {
    const ws = await workspace([{ name: "h", body: "new content" }]);
    await fs.link(ws.sentinel, path.join(ws.root, "h"));
    await extractTar(ws.archive, ws.root, LAYER);
    assert.equal(await fs.readFile(path.join(ws.root, "h"), "utf8"), "new content");
    assert.equal(await fs.readFile(ws.sentinel, "utf8"), SENTINEL);
  });

  test("extractTar replaces an existing relocated file's hard link too", async () => {
    // Relocated files take a different write path (in memory, then writeFile).
    const ws = await workspace([{ name: "f.txt", body: `at ${PLACEHOLDER}\n` }]);
    await fs.link(ws.sentinel, path.join(ws.root, "f.txt"));
    await extractTar(ws.archive, ws.root, { ...LAYER, relocation: { files: new Map([["f.txt", "text"]]), from: PLACEHOLDER, to: "/x" } });
    assert.equal(await fs.readFile(path.join(ws.root, "f.txt"), "utf8"), "at /x\n");
    assert.equal(await fs.readFile(ws.sentinel, "utf8"), SENTINEL);
  });

  test("extractTar replaces an existing symlink with a directory instead of following it", async () => {
    const ws = await workspace([
      { name: "lib/", type: "directory" },
      { name: "lib/f", body: "inside" },
    ]);
    await fs.symlink("..", path.join(ws.root, "lib"));
    const before = await outside(ws);
    await extractTar(ws.archive, ws.root, LAYER);
    assert.ok((await fs.lstat(path.join(ws.root, "lib"))).isDirectory());
    assert.equal(await fs.readFile(path.join(ws.root, "lib", "f"), "utf8"), "inside");
    assert.deepEqual(await outside(ws), before);
  });

  test("extractTar can replace a directory it made with a symlink, and then refuses writes through that symlink", async () => {
    const ws = await workspace([
      { name: "a/b/", type: "directory" },
      { name: "other/", type: "directory" },
      { name: "a", type: "symlink", linkname: "other" },
      { name: "a/b/f", body: "x" },
    ]);
    await assertRefused(ws, "a/b/f");
    assert.equal(await fs.readlink(path.join(ws.root, "a")), "other");
  });
});

describe("extractTar extracts layers", () => {
  test("extractTar extracts dirs, files, a relative symlink and a hard link, reducing modes", async () => {
    const ws = await workspace([
      { name: "./", type: "directory" },
      { name: "./bin/", type: "directory", mode: 0o1777 },
      { name: "./bin/tool", body: "#!/bin/sh\necho hi\n", mode: 0o4755 },
      { name: "./bin/group", body: "g", mode: 0o2711 },
      { name: "./lib/pkg/data.txt", body: "data", mode: 0o666 },
      { name: "./lib/pkg/private.txt", body: "p", mode: 0o600 },
      { name: "./lib/current", type: "symlink", linkname: "pkg" },
      { name: "./bin/data-link", type: "symlink", linkname: "../lib/pkg/data.txt" },
      { name: "./lib/pkg/copy.txt", type: "link", linkname: "./lib/pkg/data.txt" },
      { name: "./empty/", type: "directory", mode: 0o700 },
    ]);
    await extractTar(ws.archive, ws.root, LAYER);
    assert.deepEqual(await listTree(ws.root), [
      "bin",
      "bin/data-link",
      "bin/group",
      "bin/tool",
      "empty",
      "lib",
      "lib/current",
      "lib/pkg",
      "lib/pkg/copy.txt",
      "lib/pkg/data.txt",
      "lib/pkg/private.txt",
    ]);
    const at = (relative: string) => path.join(ws.root, relative);
    assert.equal(await fs.readFile(at("bin/tool"), "utf8"), "#!/bin/sh\necho hi\n");
    assert.equal(await mode(at("bin/tool")), 0o755, "setuid is dropped");
    assert.equal(await mode(at("bin/group")), 0o755, "setgid is dropped");
    assert.equal(await mode(at("lib/pkg/data.txt")), 0o644, "world-writable is dropped");
    assert.equal(await mode(at("lib/pkg/private.txt")), 0o644);
    assert.equal((await mode(at("bin"))) & 0o7000, 0, "the sticky bit is dropped");
    assert.equal(await fs.readlink(at("lib/current")), "pkg");
    assert.equal(await fs.readlink(at("bin/data-link")), "../lib/pkg/data.txt");
    assert.equal(await fs.readFile(at("bin/data-link"), "utf8"), "data");
    const [copy, data] = [await fs.stat(at("lib/pkg/copy.txt")), await fs.stat(at("lib/pkg/data.txt"))];
    assert.equal(copy.ino, data.ino, "the hard link shares the inode");
    assert.equal(await fs.readFile(ws.sentinel, "utf8"), SENTINEL);
  });

  test("extractTar returns the symlinks the archive made", async () => {
    const ws = await workspace([
      { name: "lib/pkg/data.txt", body: "data" },
      { name: "lib/current", type: "symlink", linkname: "pkg" },
      { name: "bin/data", type: "symlink", linkname: "../lib/current/data.txt" },
      { name: "bin/copy", type: "link", linkname: "lib/pkg/data.txt" },
    ]);
    const made = await extractTar(ws.archive, ws.root, LAYER);
    assert.deepEqual([...made].sort(), ["bin/data", "lib/current"]);
  });

  test("extractTar accepts a symlink chain that stays inside root, and dangling links inside it", async () => {
    const ws = await workspace([
      { name: "sub/deep/up", type: "symlink", linkname: ".." },
      { name: "y", type: "symlink", linkname: "sub/deep/up/../x" },
      { name: "x", body: "x" },
      { name: "dangling", type: "symlink", linkname: "not/there/yet" },
    ]);
    await extractTar(ws.archive, ws.root, LAYER);
    assert.equal(await fs.readFile(path.join(ws.root, "y"), "utf8"), "x");
    assert.equal(await fs.readlink(path.join(ws.root, "dangling")), "not/there/yet");
  });

  test("extractTar accepts a link to a base link that points at an absolute interpreter path", async () => {
    // The base venv's bin/python -> /usr/bin/python3 is trusted; the archive's own links never may be absolute.
    const ws = await workspace([{ name: "bin/python3", type: "symlink", linkname: "python" }]);
    await fs.mkdir(path.join(ws.root, "bin"));
    await fs.symlink("/usr/bin/python3", path.join(ws.root, "bin", "python"));
    assert.deepEqual([...(await extractTar(ws.archive, ws.root, LAYER))], ["bin/python3"]);
    assert.equal(await fs.readlink(path.join(ws.root, "bin", "python3")), "python");
  });

  test("extractTar reads gzipped layers, told by magic bytes", async () => {
    const ws = await workspace([{ name: "a/b.txt", body: "zipped" }], { gzip: true });
    await extractTar(ws.archive, ws.root, LAYER);
    assert.equal(await fs.readFile(path.join(ws.root, "a", "b.txt"), "utf8"), "zipped");
  });

  test("extractTar lets a later entry replace an earlier one of another kind", async () => {
    const ws = await workspace([
      { name: "x/", type: "directory" },
      { name: "x/inner", body: "1" },
      { name: "x", body: "now a file" },
      { name: "y", body: "file" },
      { name: "y", type: "symlink", linkname: "x" },
    ]);
    await extractTar(ws.archive, ws.root, LAYER);
    assert.equal(await fs.readFile(path.join(ws.root, "x"), "utf8"), "now a file");
    assert.equal(await fs.readlink(path.join(ws.root, "y")), "x");
  });

  test("extractTar: .wh.NAME removes a pre-existing file and a pre-existing directory tree", async () => {
    const ws = await workspace([{ name: ".wh.old.txt" }, { name: ".wh.olddir" }, { name: "lib/.wh.gone" }, { name: ".wh.never-existed" }, { name: "new.txt", body: "n" }]);
    await fs.writeFile(path.join(ws.root, "old.txt"), "old");
    await fs.mkdir(path.join(ws.root, "olddir", "a"), { recursive: true });
    await fs.writeFile(path.join(ws.root, "olddir", "a", "b.txt"), "b");
    await fs.mkdir(path.join(ws.root, "lib", "gone"), { recursive: true });
    await fs.writeFile(path.join(ws.root, "lib", "stays"), "s");
    await extractTar(ws.archive, ws.root, LAYER);
    assert.deepEqual(await listTree(ws.root), ["lib", "lib/stays", "new.txt"]);
  });

  test("extractTar: a whiteout of a symlink removes the link, not its target", async () => {
    const ws = await workspace([{ name: ".wh.link" }]);
    await fs.mkdir(path.join(ws.root, "target"));
    await fs.writeFile(path.join(ws.root, "target", "f"), "f");
    await fs.symlink("target", path.join(ws.root, "link"));
    await extractTar(ws.archive, ws.root, LAYER);
    assert.deepEqual(await listTree(ws.root), ["target", "target/f"]);
  });

  test("extractTar: an opaque whiteout placed after a sibling keeps that sibling and removes pre-existing children", async () => {
    const ws = await workspace([
      { name: "dir/", type: "directory" },
      { name: "dir/new.txt", body: "new" },
      { name: "dir/newdir/", type: "directory" },
      { name: "dir/.wh..wh..opq" },
    ]);
    await fs.mkdir(path.join(ws.root, "dir", "oldsub"), { recursive: true });
    await fs.writeFile(path.join(ws.root, "dir", "old.txt"), "old");
    await fs.writeFile(path.join(ws.root, "dir", "oldsub", "x"), "x");
    await fs.writeFile(path.join(ws.root, "outside-dir.txt"), "kept");
    await extractTar(ws.archive, ws.root, LAYER);
    assert.deepEqual(await listTree(ws.root), ["dir", "dir/new.txt", "dir/newdir", "outside-dir.txt"]);
  });

  test("extractTar: an opaque whiteout placed before its siblings removes pre-existing children only", async () => {
    const ws = await workspace([{ name: "dir/.wh..wh..opq" }, { name: "dir/new.txt", body: "new" }]);
    await fs.mkdir(path.join(ws.root, "dir"));
    await fs.writeFile(path.join(ws.root, "dir", "old.txt"), "old");
    await extractTar(ws.archive, ws.root, LAYER);
    assert.deepEqual(await listTree(ws.root), ["dir", "dir/new.txt"]);
  });

  test("extractTar: an opaque whiteout of a directory that does not exist yet is harmless", async () => {
    const ws = await workspace([{ name: "fresh/.wh..wh..opq" }]);
    await extractTar(ws.archive, ws.root, LAYER);
    assert.deepEqual(await listTree(ws.root), ["fresh"]);
  });

  test("extractTar: an opaque whiteout after a same-layer file in an implicit subdirectory keeps that file", async () => {
    // OCI: whiteouts apply only to lower layers; entries of the same layer survive whatever the order.
    const ws = await workspace([{ name: "dir/sub/new.txt", body: "new" }, { name: "dir/.wh..wh..opq" }]);
    await fs.mkdir(path.join(ws.root, "dir"));
    await fs.writeFile(path.join(ws.root, "dir", "old.txt"), "old");
    await extractTar(ws.archive, ws.root, LAYER);
    assert.deepEqual(await listTree(ws.root), ["dir", "dir/sub", "dir/sub/new.txt"]);
  });

  test("extractTar: an opaque whiteout after a same-layer subdirectory still hides the lower layer's files inside it", async () => {
    const ws = await workspace([
      { name: "dir/sub/", type: "directory" },
      { name: "dir/sub/new.txt", body: "new" },
      { name: "dir/.wh..wh..opq" },
    ]);
    await fs.mkdir(path.join(ws.root, "dir", "sub"), { recursive: true });
    await fs.writeFile(path.join(ws.root, "dir", "sub", "old.txt"), "old");
    await extractTar(ws.archive, ws.root, LAYER);
    assert.deepEqual(await listTree(ws.root), ["dir", "dir/sub", "dir/sub/new.txt"]);
  });

  test("extractTar replaces the placeholder in files listed for relocation, and only in those", async () => {
    const body = `home = ${PLACEHOLDER}/lib\n`;
    const binary = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0]), Buffer.from(`${PLACEHOLDER}/lib`), Buffer.from([0, 1, 2])]);
    const ws = await workspace([
      { name: "f.txt", body, mode: 0o755 },
      { name: "lib/x.so", body: binary },
      { name: "untouched.txt", body },
    ]);
    const relocation = { files: new Map<string, RelocationKind>([["f.txt", "text"], ["lib/x.so", "binary"]]), from: PLACEHOLDER, to: "/some/where" };
    await extractTar(ws.archive, ws.root, { ...LAYER, relocation });
    assert.equal(await fs.readFile(path.join(ws.root, "f.txt"), "utf8"), "home = /some/where/lib\n");
    assert.equal(await mode(path.join(ws.root, "f.txt")), 0o755, "a relocated file keeps its executable bit");
    const relocated = await fs.readFile(path.join(ws.root, "lib", "x.so"));
    assert.equal(relocated.length, binary.length);
    assert.equal(relocated.subarray(5, 5 + "/some/where/lib".length + 1).toString(), "/some/where/lib\0");
    assert.equal(await fs.readFile(path.join(ws.root, "untouched.txt"), "utf8"), body);
  });

  test("extractTar refuses to relocate a binary file to a longer path, with a PypakrError naming the file", async () => {
    const ws = await workspace([{ name: "lib/x.so", body: Buffer.from(`\0${PLACEHOLDER}\0`) }]);
    const to = `/${"x".repeat(PLACEHOLDER.length)}`;
    await assert.rejects(extractTar(ws.archive, ws.root, { ...LAYER, relocation: { files: new Map([["lib/x.so", "binary"]]), from: PLACEHOLDER, to } }), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.match(error.message, /cannot relocate lib\/x\.so/);
      return true;
    });
  });
});

describe("checkSymlinks across layers", () => {
  test("checkSymlinks refuses a link that a later layer made escape, and removes it", async () => {
    // Layer 1: y reads as sub/sentinel and sub/deep/up is a real dir, so y stays inside.
    const ws = await workspace([
      { name: "sub/deep/up/", type: "directory" },
      { name: "y", type: "symlink", linkname: "sub/deep/up/../../sentinel" },
    ]);
    const first = await extractTar(ws.archive, ws.root, LAYER);
    // Layer 2 turns sub/deep/up into a link to "..", which on its own is fine.
    const second = path.join(ws.temp, "layer2.tar");
    await fs.writeFile(second, await tarBytes([{ name: "sub/deep/.wh.up" }, { name: "sub/deep/up", type: "symlink", linkname: ".." }]));
    const made = await extractTar(second, ws.root, LAYER);
    const before = await outside(ws);
    await assert.rejects(checkSymlinks(ws.root, new Set([...first, ...made]), "image test.tar"), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.match(error.message, /^image test\.tar: the symlink "y" leads outside/);
      return true;
    });
    await assert.rejects(fs.lstat(path.join(ws.root, "y")), { code: "ENOENT" });
    assert.deepEqual(await outside(ws), before);
    assert.equal(await fs.readFile(ws.sentinel, "utf8"), SENTINEL);
  });

  test("checkSymlinks ignores listed links that are gone or no longer symlinks", async () => {
    const ws = await workspace([]);
    await fs.writeFile(path.join(ws.root, "now-a-file"), "f");
    await checkSymlinks(ws.root, new Set(["gone", "now-a-file"]), "image test.tar");
  });
});

describe("extractTar for sources", () => {
  const SOURCE: ExtractOptions = { what: "source test.tar", whiteouts: "refuse" };

  test("extractTar in source mode refuses a .wh. name", async () => {
    const ws = await workspace([{ name: "app.py", body: "print(1)" }, { name: ".wh.x" }]);
    await fs.writeFile(path.join(ws.root, "x"), "kept");
    const error = await assertRefused(ws, ".wh.x", SOURCE);
    assert.match(error.message, /whiteout/);
    assert.equal(await fs.readFile(path.join(ws.root, "x"), "utf8"), "kept");
  });

  test("extractTar in source mode refuses an opaque whiteout", async () => {
    const ws = await workspace([{ name: "dir/.wh..wh..opq" }]);
    await assertRefused(ws, "dir/.wh..wh..opq", SOURCE);
  });

  test("extractTar in source mode allows a top-level .pypakr when nothing is reserved", async () => {
    const ws = await workspace([{ name: ".pypakr/notes", body: "mine" }]);
    await extractTar(ws.archive, ws.root, SOURCE);
    assert.equal(await fs.readFile(path.join(ws.root, ".pypakr", "notes"), "utf8"), "mine");
  });
});

describe("extractTar on unreadable archives", () => {
  async function assertUnreadable(ws: Workspace): Promise<void> {
    const before = await outside(ws);
    await assert.rejects(extractTar(ws.archive, ws.root, LAYER), (error: unknown) => {
      assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${String(error)}`);
      assert.match(error.message, /^test layer is not a readable tar archive/);
      return true;
    });
    assert.deepEqual(await outside(ws), before);
  }

  /** Deterministic, incompressible bytes (a chain of sha256 digests), so cutting a gzip really cuts the data. */
  function noise(size: number, seed: string): Buffer {
    const blocks = Array.from({ length: Math.ceil(size / 32) }, (_, index) => createHash("sha256").update(`${seed} ${index}`).digest());
    return Buffer.concat(blocks).subarray(0, size);
  }

  /** Rejects instead of waiting forever, so a hang fails one test rather than stalling the run. */
  async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  test("extractTar says a gzip truncated inside the first header is not a readable archive", async () => {
    const gz = gzipSync(await tarBytes([{ name: "f", body: noise(4096, "f") }]));
    const ws = await workspace(gz.subarray(0, 24));
    await assertUnreadable(ws);
  });

  test("extractTar says a tar truncated in the middle of a file is not a readable archive", async () => {
    const raw = await tarBytes([{ name: "a/b/c/file", body: noise(64 * 1024, "plain") }]);
    const ws = await workspace(raw.subarray(0, raw.length >> 1));
    await settleWithin(assertUnreadable(ws), 5000);
  });

  // The gunzip error races the extractor's own awaits; with no parent dirs to make, the body is being read when it lands.
  test("extractTar says a gzip truncated in the middle of a top-level file is not a readable archive", async () => {
    const gz = gzipSync(await tarBytes([{ name: "f", body: noise(64 * 1024, "f") }]));
    const ws = await workspace(gz.subarray(0, gz.length >> 1));
    await settleWithin(assertUnreadable(ws), 5000);
  });

  test(
    "extractTar says a gzip truncated in the middle of a file under new directories is not a readable archive",
    // The tar parser destroys the entry's body while its parent directories are being made;
    // piping from a destroyed stream never settled, so extraction hung.
    async () => {
      const gz = gzipSync(await tarBytes([{ name: "a/b/c/d/e/f/g/h/file", body: noise(64 * 1024, "deep") }]));
      const ws = await workspace(gz.subarray(0, gz.length >> 1));
      await settleWithin(assertUnreadable(ws), 5000);
    },
  );

  test("extractTar says random garbage is not a readable archive", async () => {
    const garbage = noise(4096, "garbage");
    garbage[0] = 0x42; // Not the gzip magic.
    const ws = await workspace(garbage);
    await assertUnreadable(ws);
  });

  test("extractTar says a missing archive is not readable", async () => {
    const ws = await workspace([]);
    await fs.rm(ws.archive);
    await assert.rejects(extractTar(ws.archive, ws.root, LAYER), PypakrError);
  });
});
