/**
 * Hostile image layers and bases against the code production runs, in the
 * shape of containerd's TestBreakouts: every case goes through
 * assembleLayers (test/support/assemble.ts: the load-time check, unpacking
 * into the store's cache, planVenv, and writeVenvTree as create-container
 * runs it) and must leave the sentinel beside the container, and everything
 * else outside it, untouched, with no symlink in the result leading out.
 * A refusal must be a PypakrError naming the bad entry. Source archives,
 * the other untrusted tar pypakr reads, go through extractTar in the mode
 * create-image uses ("refuse" whiteouts).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import type { PlannedEntry } from "../../src/base/assemble.js";
import { materializeVenv, type LinkMode } from "../../src/container/materialize.js";
import { checkSymlinks, extractTar } from "../../src/image/extract/index.js";
import { PLACEHOLDER } from "../../src/image/relocation.js";
import { ConfinedTree } from "../../src/util/confined-tree.js";
import { PypakrError } from "../../src/util/errors.js";
import {
  assembleLayers,
  assemblyWorkspace,
  containerPaths,
  EMPTY_BASE,
  extractSourceArchive,
  layerTar,
  SENTINEL_TEXT,
  venvBase,
  VICTIM_TEXT,
  type AssembleOptions,
  type Assembly,
  type AssemblyWorkspace,
  type BaseSpec,
  type LayerEntry,
  type Stage,
} from "../support/assemble.js";
import { makeTempDir, removeDir } from "../support/helpers.js";

let scratch = "";

before(async () => {
  scratch = await makeTempDir("pypakr-unit-extract-");
});

after(async () => {
  await removeDir(scratch);
});

async function workspace(): Promise<AssemblyWorkspace> {
  return assemblyWorkspace(scratch);
}

/** Runs `layers` (lowest first) on `base` through production's path. */
async function assemble(ws: AssemblyWorkspace, layers: LayerEntry[][], options: Omit<AssembleOptions, "ws" | "layers"> = {}): Promise<Assembly> {
  return assembleLayers({ ws, layers: await Promise.all(layers.map((entries) => layerTar(entries))), ...options });
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : JSON.stringify(error);
}

/** What a hostile case may never do, refused or not. */
async function assertContained(ws: AssemblyWorkspace, result: Pick<Assembly, "changedOutside" | "escapingLinks">): Promise<void> {
  assert.equal(await fs.readFile(ws.sentinel, "utf8"), SENTINEL_TEXT, "the sentinel beside the container changed");
  assert.equal(await fs.readFile(ws.victim, "utf8"), VICTIM_TEXT, "the file outside the container changed");
  assert.deepEqual(result.changedOutside, [], "something outside the container was created, removed or changed");
  assert.deepEqual(result.escapingLinks, [], "a symlink in the container leads outside it");
}

function assertRefusal(result: Pick<Assembly, "error">, entry: string, message?: RegExp): PypakrError {
  const error = result.error;
  assert.ok(error instanceof PypakrError, "expected a refusal (a PypakrError)");
  assert.ok(error.message.includes(`"${entry}"`), `the message should name the entry "${entry}": ${error.message}`);
  if (message) assert.match(error.message, message);
  return error;
}

async function assertAssembled(ws: AssemblyWorkspace, result: Assembly): Promise<string> {
  assert.equal(result.refusedAt, null, `expected a container, but ${result.refusedAt ?? ""} refused: ${describeError(result.error)}`);
  await assertContained(ws, result);
  return result.tree as string;
}

async function mode(file: string): Promise<number> {
  return (await fs.lstat(file)).mode & 0o7777;
}

// ---------------------------------------------------------------------------
// The breakout table

interface Breakout {
  name: string;
  /** Lower layers first; the last is the hostile one. Lower layers are legal on their own. */
  layers: (ws: AssemblyWorkspace) => LayerEntry[][];
  /** The base; venvBase(ws) when not given. Base entries stand for state no layer may legally leave. */
  base?: (ws: AssemblyWorkspace) => BaseSpec;
  /** "refused" (the default): at `stage`, naming `entry`. "safe": the image assembles and nothing outside changes. */
  outcome?: "refused" | "safe";
  stage?: Stage;
  /** The entry the refusal names (normalized, or raw when the name itself is bad). */
  entry?: string | ((ws: AssemblyWorkspace) => string);
  message?: RegExp;
  /** A source archive reserves no names, so this one is legal there (as long as it stays inside). */
  legalInSource?: boolean;
}

/** The base's lib (and what was below it) as an absolute link to a directory outside: legal only in a base, which pypakr init made. */
const libOutside = (ws: AssemblyWorkspace) => venvBase(ws, [{ path: "lib", type: "symlink", link: ws.outside }]);
const linkToDir = (name: string, to: (ws: AssemblyWorkspace) => string) => (ws: AssemblyWorkspace) => venvBase(ws, [{ path: name, type: "symlink", link: to(ws) }]);

const breakouts: Breakout[] = [
  // Names
  { name: "a file named ../sentinel", stage: "load-check", entry: "../sentinel", layers: () => [[{ name: "../sentinel", body: "pwned" }]], message: /'\.\.'/ },
  { name: "an absolute file name", stage: "load-check", entry: "/abs", layers: () => [[{ name: "/abs", body: "pwned" }]], message: /absolute/ },
  { name: "an absolute name pointing at the sentinel", stage: "load-check", entry: (ws) => ws.sentinel, layers: (ws) => [[{ name: ws.sentinel, body: "pwned" }]], message: /absolute/ },
  { name: "a name that climbs out after descending", stage: "load-check", entry: "a/../../x", layers: () => [[{ name: "a/../../x", body: "pwned" }]] },
  { name: "a name with a backslash", stage: "load-check", entry: "..\\sentinel", layers: () => [[{ name: "..\\sentinel", body: "pwned" }]], message: /backslash/ },
  { name: "a file entry for the target itself", stage: "load-check", entry: ".", layers: () => [[{ name: ".", body: "x" }]], message: /target directory itself/ },

  // Symlinks in one layer
  {
    name: "a symlink to .. followed by a file through it",
    stage: "load-check",
    entry: "link",
    layers: () => [
      [
        { name: "link", type: "symlink", linkname: ".." },
        { name: "link/sentinel", body: "pwned" },
      ],
    ],
    message: /outside the target/,
  },
  { name: "a symlink to ../", stage: "load-check", entry: "out", layers: () => [[{ name: "out", type: "symlink", linkname: "../" }]], message: /outside the target/ },
  {
    name: "a nested symlink climbing out",
    stage: "load-check",
    entry: "a/b/up",
    layers: () => [
      [
        { name: "a/b/", type: "directory" },
        { name: "a/b/up", type: "symlink", linkname: "../../../sentinel" },
      ],
    ],
  },
  { name: "a symlink to an absolute path", stage: "load-check", entry: "abs", layers: (ws) => [[{ name: "abs", type: "symlink", linkname: ws.sentinel }]], message: /absolute path/ },
  {
    name: "a symlink to the target itself",
    stage: "load-check",
    entry: "d",
    layers: () => [
      [
        { name: "d", type: "symlink", linkname: "." },
        { name: "d/f", body: "x" },
      ],
    ],
    message: /the target itself/,
  },
  { name: "a symlink resolving to itself", stage: "load-check", entry: "self", layers: () => [[{ name: "self", type: "symlink", linkname: "self" }]], message: /itself/ },
  { name: "a nested symlink resolving to itself", stage: "load-check", entry: "a/self", layers: () => [[{ name: "a/self", type: "symlink", linkname: "../a/./self" }]], message: /itself/ },
  { name: "a symlink with an empty target", stage: "load-check", entry: "empty", layers: () => [[{ name: "empty", type: "symlink", linkname: "" }]] },
  { name: "a symlink to ./, the container itself spelled with a slash", stage: "load-check", entry: "x", layers: () => [[{ name: "x", type: "symlink", linkname: "./" }]] },
  { name: "a symlink to itself spelled with a slash", stage: "load-check", entry: "a", layers: () => [[{ name: "a", type: "symlink", linkname: "./a/" }]] },
  {
    name: "a file written through a symlink to a real dir",
    stage: "load-check",
    entry: "d/f",
    layers: () => [
      [
        { name: "sub/", type: "directory" },
        { name: "d", type: "symlink", linkname: "sub" },
        { name: "d/f", body: "through the link" },
      ],
    ],
    message: /through the symlink "d"/,
  },
  {
    name: "a directory written through a symlink",
    stage: "load-check",
    entry: "d/inner",
    layers: () => [
      [
        { name: "sub/", type: "directory" },
        { name: "d", type: "symlink", linkname: "sub" },
        { name: "d/inner/", type: "directory" },
      ],
    ],
  },
  {
    name: "a write through a symlink the layer put where it had made a directory",
    stage: "load-check",
    entry: "a/b/f",
    layers: () => [
      [
        { name: "a/b/", type: "directory" },
        { name: "other/", type: "directory" },
        { name: "a", type: "symlink", linkname: "other" },
        { name: "a/b/f", body: "x" },
      ],
    ],
  },
  // Chains: each link reads as inside the tree, but the kernel follows the first link before applying "..".
  {
    name: "a symlink that reaches the sentinel through another symlink",
    stage: "load-check",
    entry: "y",
    layers: () => [
      [
        { name: "sub/deep/", type: "directory" },
        { name: "sub/deep/up", type: "symlink", linkname: ".." },
        { name: "y", type: "symlink", linkname: "sub/deep/up/../../sentinel" },
      ],
    ],
    message: /leads outside the target/,
  },
  {
    name: "a symlink that reaches the container's parent through another symlink",
    stage: "load-check",
    entry: "y",
    layers: () => [
      [
        { name: "sub/deep/up", type: "symlink", linkname: ".." },
        { name: "y", type: "symlink", linkname: "sub/deep/up/../.." },
      ],
    ],
  },
  {
    name: "a symlink that reaches the container itself through another symlink",
    stage: "load-check",
    entry: "z",
    layers: () => [
      [
        { name: "a/b/up", type: "symlink", linkname: ".." },
        { name: "z", type: "symlink", linkname: "a/b/up/.." },
      ],
    ],
  },
  {
    name: "a symlink made before the link it escapes through",
    stage: "load-check",
    entry: "y",
    layers: () => [
      [
        { name: "y", type: "symlink", linkname: "sub/deep/up/../../sentinel" },
        { name: "sub/deep/up", type: "symlink", linkname: ".." },
      ],
    ],
  },
  {
    name: "a pair of symlinks pointing at each other",
    stage: "load-check",
    entry: "loop1",
    layers: () => [
      [
        { name: "loop1", type: "symlink", linkname: "loop2" },
        { name: "loop2", type: "symlink", linkname: "loop1" },
      ],
    ],
  },

  // State a lower layer or the base left
  {
    name: "a file written through the base's absolute link to a directory outside",
    base: libOutside,
    stage: "plan",
    entry: "lib/victim",
    layers: () => [[{ name: "lib/victim", body: "pwned" }]],
    message: /needs "lib" to be a directory/,
  },
  {
    name: "a file written through a base link to the container's parent",
    base: linkToDir("up", (ws) => ws.dir),
    stage: "plan",
    entry: "up/sentinel",
    layers: () => [[{ name: "up/sentinel", body: "pwned" }]],
  },
  {
    name: "a directory made through the base's link to a directory outside",
    base: libOutside,
    stage: "plan",
    entry: "lib/python3.11",
    layers: () => [[{ name: "lib/python3.11/", type: "directory" }]],
  },
  {
    name: "a symlink made through the base's link to a directory outside",
    base: libOutside,
    stage: "plan",
    entry: "lib/l",
    layers: () => [[{ name: "lib/l", type: "symlink", linkname: "x" }]],
  },
  {
    name: "a file written through a lower layer's symlink to a directory inside",
    stage: "plan",
    entry: "l/f",
    layers: () => [
      [
        { name: "sub/", type: "directory" },
        { name: "l", type: "symlink", linkname: "sub" },
      ],
      [{ name: "l/f", body: "through the lower link" }],
    ],
    message: /needs "l" to be a directory, but a lower layer made it a symlink/,
  },
  {
    name: "a file written below a lower layer's file",
    stage: "plan",
    entry: "f/g",
    layers: () => [[{ name: "f", body: "lower" }], [{ name: "f/g", body: "x" }]],
  },
  {
    name: "a symlink escaping through a link a lower layer left",
    stage: "symlinks",
    entry: "y",
    layers: () => [
      [
        { name: "sub/deep/", type: "directory" },
        { name: "sub/deep/up", type: "symlink", linkname: ".." },
      ],
      [{ name: "y", type: "symlink", linkname: "sub/deep/up/../../sentinel" }],
    ],
    message: /leads outside the target/,
  },

  {
    // Production trusts the base's absolute links (a venv's bin/python -> its interpreter), but not a climb past where they lead.
    name: "a layer symlink climbing out through the base's absolute link to a directory outside",
    base: linkToDir("lib64", (ws) => ws.outside),
    stage: "symlinks",
    entry: "x",
    layers: () => [[{ name: "x", type: "symlink", linkname: "lib64/../sentinel" }]],
  },
  {
    name: "a dangling layer symlink climbing out through the base's absolute link to a directory outside",
    base: linkToDir("lib64", (ws) => ws.outside),
    stage: "symlinks",
    entry: "x",
    layers: () => [[{ name: "x", type: "symlink", linkname: "lib64/../created-beside-the-container" }]],
  },

  // Hard links
  { name: "a hard link to ../sentinel", stage: "load-check", entry: "h", layers: () => [[{ name: "h", type: "link", linkname: "../sentinel" }]] },
  { name: "a hard link to the sentinel's absolute path", stage: "load-check", entry: "h", layers: (ws) => [[{ name: "h", type: "link", linkname: ws.sentinel }]] },
  {
    name: "a hard link through a symlinked parent",
    stage: "load-check",
    entry: "h",
    layers: () => [
      [
        { name: "sub/", type: "directory" },
        { name: "sub/f", body: "x" },
        { name: "l", type: "symlink", linkname: "sub" },
        { name: "h", type: "link", linkname: "l/f" },
      ],
    ],
    message: /through the symlink "l"/,
  },
  {
    name: "a hard link through a base link to the container's parent",
    base: linkToDir("up", (ws) => ws.dir),
    stage: "load-check",
    entry: "h",
    layers: () => [[{ name: "h", type: "link", linkname: "up/sentinel" }]],
    message: /not a regular file/,
  },
  {
    name: "a hard link to a base link that points at a file outside",
    base: linkToDir("s", (ws) => ws.victim),
    stage: "load-check",
    entry: "h",
    layers: () => [[{ name: "h", type: "link", linkname: "s" }]],
    message: /not a regular file/,
  },
  { name: "a hard link to a missing file", stage: "load-check", entry: "h", layers: () => [[{ name: "h", type: "link", linkname: "nothing" }]], message: /not a regular file/ },

  // Special files
  { name: "a character device", stage: "load-check", entry: "null", layers: () => [[{ name: "null", type: "character-device" }]], message: /character-device/ },
  { name: "a block device", stage: "load-check", entry: "sda", layers: () => [[{ name: "sda", type: "block-device" }]] },
  { name: "a fifo", stage: "load-check", entry: "pipe", layers: () => [[{ name: "pipe", type: "fifo" }]], message: /fifo/ },

  // Whiteouts
  { name: "a whiteout of ..", stage: "load-check", entry: ".wh..", layers: () => [[{ name: ".wh.." }]], message: /names no file|whiteout/ },
  { name: "a whiteout with an empty name", stage: "load-check", entry: ".wh.", layers: () => [[{ name: ".wh." }]], message: /names no file|whiteout/ },
  { name: "a whiteout of .", stage: "load-check", entry: "sub/.wh..", layers: () => [[{ name: "sub/.wh.." }]], message: /names no file|whiteout/ },
  {
    name: "a non-empty whiteout",
    stage: "load-check",
    entry: ".wh.victim",
    layers: () => [[{ name: "victim", body: "lower layer" }], [{ name: ".wh.victim", body: "not empty" }]],
    message: /not an empty regular file/,
  },
  { name: "a whiteout that is a directory", stage: "load-check", entry: ".wh.victim", layers: () => [[{ name: ".wh.victim/", type: "directory" }]], message: /whiteout/ },
  { name: "an opaque whiteout of the whole tree", stage: "load-check", entry: ".wh..wh..opq", layers: () => [[{ name: ".wh..wh..opq" }]], message: /whole tree|whiteout/ },
  {
    name: "a whiteout through a symlink the same layer made",
    stage: "load-check",
    entry: "l/.wh.x",
    layers: () => [
      [
        { name: "sub/x", body: "x" },
        { name: "l", type: "symlink", linkname: "sub" },
        { name: "l/.wh.x" },
      ],
    ],
    message: /through the symlink "l"/,
  },
  // A whiteout only edits the plan: under a base's link to outside it hides nothing, and deletes nothing.
  { name: "a whiteout through the base's link to the container's parent", base: linkToDir("l", (ws) => ws.dir), outcome: "safe", layers: () => [[{ name: "l/.wh.sentinel" }]] },
  { name: "a whiteout through the base's link to a directory outside", base: libOutside, outcome: "safe", layers: () => [[{ name: "lib/.wh.victim" }]] },
  { name: "an opaque whiteout through the base's link to a directory outside", base: libOutside, outcome: "safe", layers: () => [[{ name: "lib/.wh..wh..opq" }]] },
  { name: "an opaque whiteout through the base's link to the container's parent", base: linkToDir("l", (ws) => ws.dir), outcome: "safe", layers: () => [[{ name: "l/.wh..wh..opq" }]] },
  {
    name: "a whiteout through a lower layer's symlink to a directory inside",
    outcome: "safe",
    layers: () => [
      [
        { name: "sub/x", body: "x" },
        { name: "l", type: "symlink", linkname: "sub" },
      ],
      [{ name: "l/.wh.x" }, { name: "l/.wh..wh..opq" }],
    ],
  },

  // pypakr's own .pypakr, at any depth
  { name: "an entry into .pypakr/", stage: "load-check", entry: ".pypakr/image.json", layers: () => [[{ name: ".pypakr/image.json", body: "{}" }]], message: /pypakr's own/, legalInSource: true },
  { name: "a directory named .pypakr", stage: "load-check", entry: ".pypakr", layers: () => [[{ name: "./.pypakr/", type: "directory" }]], message: /pypakr's own/, legalInSource: true },
  { name: "a file below a nested .pypakr", stage: "load-check", entry: "a/.pypakr/x", layers: () => [[{ name: "a/.pypakr/x", body: "x" }]], message: /uses the name "\.pypakr", which is pypakr's own/, legalInSource: true },
  {
    name: "a base record planted deep in site-packages",
    stage: "load-check",
    entry: "lib/python3.11/site-packages/.pypakr/base.json",
    layers: () => [[{ name: "lib/python3.11/site-packages/.pypakr/base.json", body: "{}" }]],
    message: /pypakr's own/,
    legalInSource: true,
  },
  { name: "a directory entry x/.pypakr/", stage: "load-check", entry: "x/.pypakr", layers: () => [[{ name: "x/.pypakr/", type: "directory" }]], message: /pypakr's own/, legalInSource: true },
  { name: "a symlink named .pypakr at depth", stage: "load-check", entry: "a/.pypakr", layers: () => [[{ name: "a/.pypakr", type: "symlink", linkname: "b" }]], message: /pypakr's own/, legalInSource: true },
  { name: "a hard link into .pypakr/", stage: "load-check", entry: "h", layers: () => [[{ name: "h", type: "link", linkname: ".pypakr/meta" }]], message: /pypakr's own/ },
  { name: "a hard link into a nested .pypakr", stage: "load-check", entry: "h", layers: () => [[{ name: "h", type: "link", linkname: "d/.pypakr/f" }]], message: /pypakr's own/ },
  { name: "a whiteout of a nested .pypakr", stage: "load-check", entry: "d/.wh..pypakr", layers: () => [[{ name: "d/.wh..pypakr" }]], message: /pypakr's own|whiteout/ },
  { name: "a whiteout of .pypakr", stage: "load-check", entry: ".wh..pypakr", layers: () => [[{ name: ".wh..pypakr" }]], message: /pypakr's own|whiteout/ },

  // Hostile bases: a base record is pypakr's own, but one planted or damaged must not write outside either.
  {
    name: "a base whose symlink to a directory outside holds a file to relocate",
    base: (ws) =>
      venvBase(ws, [
        { path: "esc", type: "symlink", link: ws.outside },
        { path: "esc/victim", type: "file", relocate: "text" },
      ]),
    stage: "plan",
    entry: "esc/victim",
    layers: () => [],
    message: /needs "esc" to be a directory/,
  },
  {
    name: "a base whose symlink to a directory outside holds a directory",
    base: (ws) =>
      venvBase(ws, [
        { path: "esc", type: "symlink", link: ws.outside },
        { path: "esc/new", type: "dir" },
      ]),
    stage: "plan",
    entry: "esc/new",
  layers: () => [],
  },
  {
    name: "a base symlink to a directory outside and a layer file below it",
    base: linkToDir("esc", (ws) => ws.outside),
    stage: "plan",
    entry: "esc/victim",
    layers: () => [[{ name: "esc/victim", body: "pwned" }]],
  },
  {
    name: "a base symlink to a directory outside and a layer directory below it",
    base: linkToDir("esc", (ws) => ws.outside),
    stage: "plan",
    entry: "esc/sub",
    layers: () => [[{ name: "esc/sub/", type: "directory" }]],
  },
  {
    name: "a base file listed before the base's symlink above it",
    // The symlink replaces the directory the file implied, and the file goes with it.
    base: (ws) =>
      venvBase(ws, [
        { path: "esc/victim", type: "file", relocate: "text" },
        { path: "esc", type: "symlink", link: ws.outside },
      ]),
    outcome: "safe",
    layers: () => [],
  },
  { name: "a base entry climbing out with ..", base: (ws) => venvBase(ws, [{ path: "../sentinel", type: "file" }]), stage: "plan", entry: "../sentinel", layers: () => [], message: /'\.\.'/ },
  { name: "a base entry with .. after a directory", base: (ws) => venvBase(ws, [{ path: "lib/../../sentinel", type: "file" }]), stage: "plan", entry: "lib/../../sentinel", layers: () => [] },
  { name: "a base entry with an absolute path", base: (ws) => venvBase(ws, [{ path: ws.sentinel, type: "file" }]), stage: "plan", entry: (ws) => ws.sentinel, layers: () => [], message: /absolute/ },
  { name: "a base entry that is not a plain path", base: (ws) => venvBase(ws, [{ path: "bin//./x", type: "file" }]), stage: "plan", entry: "bin//./x", layers: () => [], message: /plain relative path/ },
  { name: "a base entry in .pypakr/", base: (ws) => venvBase(ws, [{ path: ".pypakr/x", type: "file" }]), stage: "plan", entry: ".pypakr/x", layers: () => [], message: /pypakr's own/ },
  { name: "a base entry in a nested .pypakr", base: (ws) => venvBase(ws, [{ path: "lib/.pypakr/base.json", type: "file" }]), stage: "plan", entry: "lib/.pypakr/base.json", layers: () => [], message: /pypakr's own/ },
  { name: "a base relative symlink escaping", base: (ws) => venvBase(ws, [{ path: "up", type: "symlink", link: "../.." }]), stage: "plan", entry: "up", layers: () => [], message: /outside the target/ },
  {
    name: "a base relative symlink to the sentinel",
    base: (ws) => venvBase(ws, [{ path: "bin/s", type: "symlink", link: "../../sentinel" }]),
    stage: "plan",
    entry: "bin/s",
    layers: () => [],
  },
  { name: "a base symlink to the container itself", base: (ws) => venvBase(ws, [{ path: "here", type: "symlink", link: "." }]), stage: "plan", entry: "here", layers: () => [] },
  { name: "a base symlink with an empty target", base: (ws) => venvBase(ws, [{ path: "empty", type: "symlink", link: "" }]), stage: "plan", entry: "empty", layers: () => [] },
  { name: "a base entry with a setuid mode", base: (ws) => venvBase(ws, [{ path: "bin/su", type: "file", mode: 0o4755 }]), stage: "plan", entry: "bin/su", layers: () => [], message: /mode/ },
  {
    name: "a base entry below a base file",
    base: (ws) =>
      venvBase(ws, [
        { path: "f", type: "file" },
        { path: "f/g", type: "file" },
      ]),
    stage: "plan",
    entry: "f/g",
    layers: () => [],
  },
  {
    name: "a base entry below a base symlink to a directory inside",
    base: (ws) =>
      venvBase(ws, [
        { path: "sub", type: "dir" },
        { path: "l", type: "symlink", link: "sub" },
        { path: "l/f", type: "file" },
      ]),
    stage: "plan",
    entry: "l/f",
    layers: () => [],
  },
];

function entryOf(breakout: Breakout, ws: AssemblyWorkspace): string {
  return typeof breakout.entry === "function" ? breakout.entry(ws) : (breakout.entry ?? "");
}

describe("create-container refuses breakouts", () => {
  for (const breakout of breakouts) {
    const outcome = breakout.outcome ?? "refused";
    const title = outcome === "refused" ? `create-container refuses ${breakout.name} at ${breakout.stage ?? "?"}` : `create-container turns ${breakout.name} into a harmless no-op`;
    test(`${title}, leaving everything outside the container alone`, async () => {
      const ws = await workspace();
      const result = await assemble(ws, breakout.layers(ws), breakout.base ? { base: breakout.base(ws) } : {});
      await assertContained(ws, result);
      if (outcome === "safe") {
        assert.equal(result.refusedAt, null, `expected a container, but ${result.refusedAt ?? ""} refused: ${describeError(result.error)}`);
        return;
      }
      const error = assertRefusal(result, entryOf(breakout, ws), breakout.message);
      assert.equal(result.refusedAt, breakout.stage, `refused by ${result.refusedAt ?? "nothing"}: ${error.message}`);
    });

    // The store keeps a blob it has checked and does not check it again: the later stages must refuse on their own.
    if (breakout.stage === "load-check") {
      test(`create-container refuses ${breakout.name} even when the layer skipped the load-time check`, async () => {
        const ws = await workspace();
        const result = await assemble(ws, breakout.layers(ws), { ...(breakout.base ? { base: breakout.base(ws) } : {}), loadCheck: false });
        await assertContained(ws, result);
        assertRefusal(result, entryOf(breakout, ws));
        assert.notEqual(result.refusedAt, null);
      });
    }

    // A single-layer case with no help from a base is also a hostile source archive for create-image.
    // (layers() only builds entry lists, so a workspace without paths is enough to count them.)
    if (breakout.stage === "load-check" && !breakout.base && breakout.layers({} as AssemblyWorkspace).length === 1) {
      test(`create-image ${breakout.legalInSource ? "keeps inside the target" : "refuses"} ${breakout.name} in a source archive`, async () => {
        const ws = await workspace();
        const [only] = breakout.layers(ws);
        const result = await extractSourceArchive(ws, await layerTar(only ?? []));
        await assertContained(ws, result);
        if (breakout.legalInSource) assert.equal(result.error, null, describeError(result.error));
        else assertRefusal(result, entryOf(breakout, ws));
      });
    }
  }
});

describe("materializeVenv and ConfinedTree: the last line of defence", () => {
  // A plan that planVenv would never make (it refuses esc/victim): materializeVenv must still not write through esc.
  const hostilePlans: { name: string; plan: (ws: AssemblyWorkspace, source: string) => [string, PlannedEntry][]; entry: string }[] = [
    {
      name: "a file to relocate below a symlink to a directory outside",
      entry: "esc/victim",
      plan: (ws, source) => [
        ["esc", { type: "symlink", link: ws.outside, fromLayer: false }],
        ["esc/victim", { type: "file", source, mode: 0o644, sha256: undefined, fromBase: true, shareable: true, relocate: { kind: "text", from: "/placeholder" } }],
      ],
    },
    {
      name: "a file to copy below a symlink to a directory outside",
      entry: "esc/victim",
      plan: (ws, source) => [
        ["esc", { type: "symlink", link: ws.outside, fromLayer: false }],
        ["esc/victim", { type: "file", source, mode: 0o644, sha256: undefined, fromBase: false, shareable: true }],
      ],
    },
    {
      name: "a directory below a symlink to a directory outside",
      entry: "esc/new",
      plan: (ws) => [
        ["esc", { type: "symlink", link: ws.outside, fromLayer: false }],
        ["esc/new", { type: "dir", mode: 0o755 }],
      ],
    },
    {
      name: "a symlink below a symlink to a directory outside",
      entry: "esc/link",
      plan: (ws) => [
        ["esc", { type: "symlink", link: ws.outside, fromLayer: false }],
        ["esc/link", { type: "symlink", link: "x", fromLayer: true }],
      ],
    },
    {
      name: "a file whose name climbs out",
      entry: "../sentinel",
      plan: (_ws, source) => [["../sentinel", { type: "file", source, mode: 0o644, sha256: undefined, fromBase: false, shareable: true }]],
    },
    {
      name: "a file below a directory's ..",
      entry: "d/../../sentinel",
      plan: (_ws, source) => [
        ["d", { type: "dir", mode: 0o755 }],
        ["d/../../sentinel", { type: "file", source, mode: 0o644, sha256: undefined, fromBase: false, shareable: true }],
      ],
    },
    {
      name: "a file below a file",
      entry: "f/g",
      plan: (_ws, source) => [
        ["f", { type: "file", source, mode: 0o644, sha256: undefined, fromBase: false, shareable: true }],
        ["f/g", { type: "file", source, mode: 0o644, sha256: undefined, fromBase: false, shareable: true }],
      ],
    },
    {
      name: "a file with no parent directory in the plan",
      entry: "missing/f",
      plan: (_ws, source) => [["missing/f", { type: "file", source, mode: 0o644, sha256: undefined, fromBase: false, shareable: true }]],
    },
  ];

  for (const { name, plan, entry } of hostilePlans) {
    for (const link of ["copy", "hardlink", "auto"] satisfies LinkMode[]) {
      test(`materializeVenv refuses ${name} (--link ${link}) and leaves the outside alone`, async () => {
        const ws = await workspace();
        const source = path.join(ws.dir, "source-file");
        await fs.writeFile(source, "at /placeholder\n");
        await fs.mkdir(ws.staging);
        const before = await fs.readdir(ws.outside);
        assert.throws(
          () => materializeVenv(new Map(plan(ws, source)), new ConfinedTree(ws.staging), ws.target, { link }),
          (error: unknown) => {
            assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${describeError(error)}`);
            assert.ok(error.message.includes(`"${entry}"`), error.message);
            return true;
          },
        );
        assert.equal(await fs.readFile(ws.victim, "utf8"), VICTIM_TEXT);
        assert.equal(await fs.readFile(ws.sentinel, "utf8"), SENTINEL_TEXT);
        assert.deepEqual(await fs.readdir(ws.outside), before);
      });
    }
  }
});

// ---------------------------------------------------------------------------
// What layers are for, through the same path

describe("create-container assembles layers", () => {
  test("create-container makes a layer's dirs, files, a relative symlink and a hard link, reducing modes", async () => {
    const ws = await workspace();
    const result = await assemble(
      ws,
      [
        [
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
        ],
      ],
      { base: EMPTY_BASE },
    );
    const tree = await assertAssembled(ws, result);
    assert.deepEqual(await containerPaths(tree), [
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
    const at = (relative: string) => path.join(tree, relative);
    assert.equal(await fs.readFile(at("bin/tool"), "utf8"), "#!/bin/sh\necho hi\n");
    assert.equal(await mode(at("bin/tool")), 0o755, "setuid is dropped");
    assert.equal(await mode(at("bin/group")), 0o755, "setgid is dropped");
    assert.equal(await mode(at("lib/pkg/data.txt")), 0o644, "world-writable is dropped");
    assert.equal(await mode(at("lib/pkg/private.txt")), 0o644);
    assert.equal(await mode(at("bin")), 0o755, "the sticky bit is dropped");
    assert.equal(await mode(at("empty")), 0o755);
    assert.equal(await fs.readlink(at("lib/current")), "pkg");
    assert.equal(await fs.readlink(at("bin/data-link")), "../lib/pkg/data.txt");
    assert.equal(await fs.readFile(at("bin/data-link"), "utf8"), "data");
    assert.equal(await fs.readFile(at("lib/pkg/copy.txt"), "utf8"), "data", "the hard link's content is there");
  });

  test("create-container keeps a symlink chain that stays inside, and dangling links inside", async () => {
    const ws = await workspace();
    const result = await assemble(ws, [
      [
        { name: "sub/deep/up", type: "symlink", linkname: ".." },
        { name: "y", type: "symlink", linkname: "sub/deep/up/../x" },
        { name: "x", body: "x" },
        { name: "dangling", type: "symlink", linkname: "not/there/yet" },
      ],
    ]);
    const tree = await assertAssembled(ws, result);
    assert.equal(await fs.readFile(path.join(tree, "y"), "utf8"), "x");
    assert.equal(await fs.readlink(path.join(tree, "dangling")), "not/there/yet");
  });

  test("create-container accepts a layer link to the base's absolute link to its interpreter", async () => {
    // The base venv's bin/python -> interpreter is trusted; a layer's own links may never be absolute.
    const ws = await workspace();
    const tree = await assertAssembled(ws, await assemble(ws, [[{ name: "bin/python3.11", type: "symlink", linkname: "python" }]]));
    assert.equal(await fs.readlink(path.join(tree, "bin", "python3.11")), "python");
    assert.equal(await fs.realpath(path.join(tree, "bin", "python3.11")), ws.interpreter);
  });

  test("create-container relocates the base's files to the container and names it in the prompt", async () => {
    const ws = await workspace();
    const tree = await assertAssembled(ws, await assemble(ws, []));
    assert.equal(await fs.readFile(path.join(tree, "bin", "activate"), "utf8"), `VIRTUAL_ENV="${ws.target}"\nPS1="(container) $PS1"\n`);
    assert.equal(await fs.readlink(path.join(tree, "bin", "python")), ws.interpreter);
  });

  test("create-container reads gzipped layers, told by magic bytes", async () => {
    const ws = await workspace();
    const result = await assembleLayers({ ws, layers: [await layerTar([{ name: "a/b.txt", body: "zipped" }], { gzip: true })] });
    const tree = await assertAssembled(ws, result);
    assert.equal(await fs.readFile(path.join(tree, "a", "b.txt"), "utf8"), "zipped");
  });

  test("create-container lets a later entry of a layer replace an earlier one of another kind", async () => {
    const ws = await workspace();
    const result = await assemble(ws, [
      [
        { name: "x/", type: "directory" },
        { name: "x/inner", body: "1" },
        { name: "x", body: "now a file" },
        { name: "y", body: "file" },
        { name: "y", type: "symlink", linkname: "x" },
      ],
    ]);
    const tree = await assertAssembled(ws, result);
    assert.equal(await fs.readFile(path.join(tree, "x"), "utf8"), "now a file");
    assert.equal(await fs.readlink(path.join(tree, "y")), "x");
  });

  // Entries a later entry of the same layer replaced stay in the unpacker's lists: unpackLayer stat'ed such files
  // (a crash, ENOTDIR or ENOENT), and extractTar's final checkSymlinks lstat'ed such links (a refusal that blames the disk).
  for (const [name, entries] of [
    [
      "a file replacing a directory that held a symlink",
      [
        { name: "a/l", type: "symlink", linkname: "x" },
        { name: "a", body: "now a file" },
      ],
    ],
    [
      "a file replacing a directory that held a file",
      [
        { name: "x/inner", body: "1" },
        { name: "x", body: "now a file" },
      ],
    ],
    [
      "a symlink replacing a directory that held a file",
      [
        { name: "x/inner", body: "1" },
        { name: "other/", type: "directory" },
        { name: "x", type: "symlink", linkname: "other" },
      ],
    ],
    [
      "a directory tree replaced by a file, deep",
      [
        { name: "a/b/c/f", body: "1" },
        { name: "a/b", body: "now a file" },
      ],
    ],
  ] as [string, LayerEntry[]][]) {
    test(`create-container unpacks a layer holding ${name}`, async () => {
      const ws = await workspace();
      await assertAssembled(ws, await assemble(ws, [entries], { base: EMPTY_BASE }));
    });
  }

  test("create-container lets a layer replace what a lower layer put there, of any kind", async () => {
    const ws = await workspace();
    const result = await assemble(
      ws,
      [
        [
          { name: "x/inner", body: "1" },
          { name: "y", type: "symlink", linkname: "x" },
          { name: "z", body: "lower" },
        ],
        [
          { name: "x", body: "now a file" },
          { name: "y/", type: "directory" },
          { name: "y/f", body: "in a real dir" },
          { name: "z", type: "symlink", linkname: "x" },
        ],
      ],
      { base: EMPTY_BASE },
    );
    const tree = await assertAssembled(ws, result);
    assert.deepEqual(await containerPaths(tree), ["x", "y", "y/f", "z"]);
    assert.equal(await fs.readFile(path.join(tree, "x"), "utf8"), "now a file");
    assert.ok((await fs.lstat(path.join(tree, "y"))).isDirectory());
    assert.equal(await fs.readlink(path.join(tree, "z")), "x");
  });
});

describe("create-container never follows a lower layer's or the base's links", () => {
  test("a layer file replaces the base's symlink to a file outside instead of writing through it", async () => {
    const ws = await workspace();
    const result = await assemble(ws, [[{ name: "f", body: "new content" }]], { base: venvBase(ws, [{ path: "f", type: "symlink", link: ws.victim }]) });
    const tree = await assertAssembled(ws, result);
    assert.ok((await fs.lstat(path.join(tree, "f"))).isFile());
    assert.equal(await fs.readFile(path.join(tree, "f"), "utf8"), "new content");
  });

  test("a layer directory replaces the base's symlink to a directory outside, and its files go inside", async () => {
    const ws = await workspace();
    const result = await assemble(
      ws,
      [
        [
          { name: "lib/", type: "directory" },
          { name: "lib/victim", body: "inside" },
        ],
      ],
      { base: venvBase(ws, [{ path: "lib", type: "symlink", link: ws.outside }]) },
    );
    const tree = await assertAssembled(ws, result);
    assert.ok((await fs.lstat(path.join(tree, "lib"))).isDirectory());
    assert.equal(await fs.readFile(path.join(tree, "lib", "victim"), "utf8"), "inside");
  });

  test("a layer file replaces a lower layer's symlink to a directory, leaving that directory alone", async () => {
    const ws = await workspace();
    const result = await assemble(ws, [
      [
        { name: "sub/kept", body: "kept" },
        { name: "s", type: "symlink", linkname: "sub" },
      ],
      [{ name: "s", body: "a file now" }],
    ]);
    const tree = await assertAssembled(ws, result);
    assert.equal(await fs.readFile(path.join(tree, "s"), "utf8"), "a file now");
    assert.equal(await fs.readFile(path.join(tree, "sub", "kept"), "utf8"), "kept");
  });
});

describe("create-container applies whiteouts across layers", () => {
  test(".wh.NAME hides a lower layer's file and directory tree; a whiteout of nothing is harmless", async () => {
    const ws = await workspace();
    const result = await assemble(
      ws,
      [
        [
          { name: "old.txt", body: "old" },
          { name: "olddir/a/b.txt", body: "b" },
          { name: "lib/gone/", type: "directory" },
          { name: "lib/stays", body: "s" },
        ],
        [{ name: ".wh.old.txt" }, { name: ".wh.olddir" }, { name: "lib/.wh.gone" }, { name: ".wh.never-existed" }, { name: "new.txt", body: "n" }],
      ],
      { base: EMPTY_BASE },
    );
    assert.deepEqual(await containerPaths(await assertAssembled(ws, result)), ["lib", "lib/stays", "new.txt"]);
  });

  test("a whiteout hides a base file in the container and leaves the base itself alone", async () => {
    const ws = await workspace();
    const result = await assemble(ws, [[{ name: ".wh.pyvenv.cfg" }, { name: "bin/.wh.python3" }]]);
    const tree = await assertAssembled(ws, result);
    const paths = await containerPaths(tree);
    assert.ok(!paths.includes("pyvenv.cfg") && !paths.includes("bin/python3"), paths.join(" "));
    assert.ok(paths.includes("bin/python"));
    assert.equal(await fs.readFile(path.join(ws.baseDir, "pyvenv.cfg"), "utf8"), `home = ${ws.interpreterDir}\n`);
  });

  test("a whiteout of a symlink hides the link, not its target", async () => {
    const ws = await workspace();
    const result = await assemble(
      ws,
      [
        [
          { name: "target/f", body: "f" },
          { name: "link", type: "symlink", linkname: "target" },
        ],
        [{ name: ".wh.link" }],
      ],
      { base: EMPTY_BASE },
    );
    assert.deepEqual(await containerPaths(await assertAssembled(ws, result)), ["target", "target/f"]);
  });

  test("an opaque whiteout placed after a sibling keeps that sibling and hides the lower layer's children", async () => {
    const ws = await workspace();
    const result = await assemble(
      ws,
      [
        [
          { name: "dir/oldsub/x", body: "x" },
          { name: "dir/old.txt", body: "old" },
          { name: "outside-dir.txt", body: "kept" },
        ],
        [
          { name: "dir/", type: "directory" },
          { name: "dir/new.txt", body: "new" },
          { name: "dir/newdir/", type: "directory" },
          { name: "dir/.wh..wh..opq" },
        ],
      ],
      { base: EMPTY_BASE },
    );
    assert.deepEqual(await containerPaths(await assertAssembled(ws, result)), ["dir", "dir/new.txt", "dir/newdir", "outside-dir.txt"]);
  });

  test("an opaque whiteout placed before its siblings hides the lower layer's children only", async () => {
    const ws = await workspace();
    const result = await assemble(ws, [[{ name: "dir/old.txt", body: "old" }], [{ name: "dir/.wh..wh..opq" }, { name: "dir/new.txt", body: "new" }]], { base: EMPTY_BASE });
    assert.deepEqual(await containerPaths(await assertAssembled(ws, result)), ["dir", "dir/new.txt"]);
  });

  test("an opaque whiteout of a directory no lower layer made is harmless", async () => {
    const ws = await workspace();
    const result = await assemble(ws, [[{ name: "kept.txt", body: "k" }], [{ name: "fresh/.wh..wh..opq" }]], { base: EMPTY_BASE });
    const paths = await containerPaths(await assertAssembled(ws, result));
    assert.ok(paths.includes("kept.txt"));
    assert.deepEqual(
      paths.filter((file) => file !== "fresh"),
      ["kept.txt"],
    );
  });

  test("an opaque whiteout after a same-layer file in an implicit subdirectory keeps that file", async () => {
    // OCI: whiteouts apply only to lower layers; entries of the same layer survive whatever the order.
    const ws = await workspace();
    const result = await assemble(ws, [[{ name: "dir/old.txt", body: "old" }], [{ name: "dir/sub/new.txt", body: "new" }, { name: "dir/.wh..wh..opq" }]], { base: EMPTY_BASE });
    assert.deepEqual(await containerPaths(await assertAssembled(ws, result)), ["dir", "dir/sub", "dir/sub/new.txt"]);
  });

  test("an opaque whiteout after a same-layer subdirectory still hides the lower layer's files inside it", async () => {
    const ws = await workspace();
    const result = await assemble(
      ws,
      [
        [{ name: "dir/sub/old.txt", body: "old" }],
        [
          { name: "dir/sub/", type: "directory" },
          { name: "dir/sub/new.txt", body: "new" },
          { name: "dir/.wh..wh..opq" },
        ],
      ],
      { base: EMPTY_BASE },
    );
    assert.deepEqual(await containerPaths(await assertAssembled(ws, result)), ["dir", "dir/sub", "dir/sub/new.txt"]);
  });
});

describe("create-container relocates layer files", () => {
  test("create-container replaces the placeholder in files listed for relocation, and only in those", async () => {
    const ws = await workspace();
    const body = `home = ${PLACEHOLDER}/lib\n`;
    const binary = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0]), Buffer.from(`${PLACEHOLDER}/lib`), Buffer.from([0, 1, 2])]);
    const result = await assemble(
      ws,
      [
        [
          { name: "f.txt", body, mode: 0o755 },
          { name: "lib/x.so", body: binary },
          { name: "untouched.txt", body },
        ],
      ],
      {
        relocation: {
          files: [
            { path: "f.txt", kind: "text" },
            { path: "lib/x.so", kind: "binary" },
          ],
        },
      },
    );
    const tree = await assertAssembled(ws, result);
    assert.equal(await fs.readFile(path.join(tree, "f.txt"), "utf8"), `home = ${ws.target}/lib\n`);
    assert.equal(await mode(path.join(tree, "f.txt")), 0o755, "a relocated file keeps its executable bit");
    const relocated = await fs.readFile(path.join(tree, "lib", "x.so"));
    assert.equal(relocated.length, binary.length);
    assert.equal(relocated.subarray(5, 5 + `${ws.target}/lib`.length + 1).toString(), `${ws.target}/lib\0`);
    assert.equal(await fs.readFile(path.join(tree, "untouched.txt"), "utf8"), body);
  });

  test("create-container refuses to relocate a binary file to a longer path, with a PypakrError naming the file", async () => {
    const ws = await workspace();
    const placeholder = "/short-placeholder";
    assert.ok(ws.target.length > placeholder.length);
    const result = await assemble(ws, [[{ name: "lib/x.so", body: Buffer.from(`\0${placeholder}\0`) }]], { relocation: { placeholder, files: [{ path: "lib/x.so", kind: "binary" }] } });
    await assertContained(ws, result);
    assert.equal(result.refusedAt, "materialize");
    assert.match(result.error?.message ?? "", /cannot relocate lib\/x\.so/);
  });
});

describe("create-container checks symlinks across layers", () => {
  test("create-container refuses a link that a later layer made escape, and removes it", async () => {
    const ws = await workspace();
    // Layer 1: y reads as sub/sentinel and sub/deep/up is a real dir, so y stays inside.
    // Layer 2 turns sub/deep/up into a link to "..", which on its own is fine.
    const result = await assemble(ws, [
      [
        { name: "sub/deep/up/", type: "directory" },
        { name: "y", type: "symlink", linkname: "sub/deep/up/../../sentinel" },
      ],
      [{ name: "sub/deep/.wh.up" }, { name: "sub/deep/up", type: "symlink", linkname: ".." }],
    ]);
    await assertContained(ws, result);
    assert.equal(result.refusedAt, "symlinks");
    assert.match(result.error?.message ?? "", /^image test-image\.tar: the symlink "y" leads outside/);
    await assert.rejects(fs.lstat(path.join(ws.staging, "y")), { code: "ENOENT" });
  });

  test("checkSymlinks ignores listed links that are gone or no longer symlinks", async () => {
    const ws = await workspace();
    await fs.mkdir(ws.target);
    await fs.writeFile(path.join(ws.target, "now-a-file"), "f");
    await checkSymlinks(ws.target, new Set(["gone", "now-a-file"]), "image test.tar");
  });
});

describe("create-container on unreadable layers", () => {
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

  const damaged: { name: string; bytes: () => Promise<Buffer> }[] = [
    { name: "a gzip truncated inside the first header", bytes: async () => gzipSync(await layerTar([{ name: "f", body: noise(4096, "f") }])).subarray(0, 24) },
    {
      name: "a tar truncated in the middle of a file",
      bytes: async () => {
        const raw = await layerTar([{ name: "a/b/c/file", body: noise(64 * 1024, "plain") }]);
        return raw.subarray(0, raw.length >> 1);
      },
    },
    // The gunzip error races the extractor's own awaits; with no parent dirs to make, the body is being read when it lands.
    {
      name: "a gzip truncated in the middle of a top-level file",
      bytes: async () => {
        const gz = gzipSync(await layerTar([{ name: "f", body: noise(64 * 1024, "f") }]));
        return gz.subarray(0, gz.length >> 1);
      },
    },
    // The tar parser destroys the entry's body while its parent directories are being made;
    // piping from a destroyed stream never settled, so extraction hung.
    {
      name: "a gzip truncated in the middle of a file under new directories",
      bytes: async () => {
        const gz = gzipSync(await layerTar([{ name: "a/b/c/d/e/f/g/h/file", body: noise(64 * 1024, "deep") }]));
        return gz.subarray(0, gz.length >> 1);
      },
    },
    {
      name: "random garbage",
      bytes: () => {
        const garbage = noise(4096, "garbage");
        garbage[0] = 0x42; // Not the gzip magic.
        return Promise.resolve(garbage);
      },
    },
  ];

  for (const { name, bytes } of damaged) {
    for (const loadCheck of [true, false]) {
      test(`create-container says ${name} is not a readable archive${loadCheck ? "" : " when unpacking it"}`, async () => {
        const ws = await workspace();
        const result = await settleWithin(assembleLayers({ ws, layers: [await bytes()], loadCheck }), 10_000);
        await assertContained(ws, result);
        assert.equal(result.refusedAt, loadCheck ? "load-check" : "unpack");
        assert.match(result.error?.message ?? "", /^layer 1 \(sha256:[0-9a-f]{12}\) of test-image\.tar is not a readable tar archive/);
      });
    }
  }

  test("create-container refuses a stored layer blob damaged after it was checked", async () => {
    const ws = await workspace();
    const result = await assembleLayers({
      ws,
      layers: [await layerTar([{ name: "f.txt", body: "original content" }])],
      beforeUnpack: async ([blob]) => {
        const bytes = await fs.readFile(blob as string);
        bytes[bytes.indexOf("original")] = 0x4f;
        await fs.writeFile(blob as string, bytes);
      },
    });
    assert.equal(result.refusedAt, "unpack");
    assert.match(result.error?.message ?? "", /is damaged/);
    assert.equal(result.tree, null);
  });
});

describe("create-image's extraction of source archives", () => {
  test("create-image refuses a .wh. name in a source", async () => {
    const ws = await workspace();
    const result = await extractSourceArchive(ws, await layerTar([{ name: "app.py", body: "print(1)" }, { name: ".wh.x" }]));
    await assertContained(ws, result);
    assert.match(assertRefusal(result, ".wh.x").message, /whiteout/);
  });

  test("create-image refuses an opaque whiteout in a source", async () => {
    const ws = await workspace();
    const result = await extractSourceArchive(ws, await layerTar([{ name: "dir/.wh..wh..opq" }]));
    await assertContained(ws, result);
    assertRefusal(result, "dir/.wh..wh..opq");
  });

  test("create-image extracts a top-level .pypakr from a source, which reserves no names", async () => {
    const ws = await workspace();
    const result = await extractSourceArchive(ws, await layerTar([{ name: ".pypakr/notes", body: "mine" }]));
    assert.equal(result.error, null);
    assert.equal(await fs.readFile(path.join(ws.target, ".pypakr", "notes"), "utf8"), "mine");
  });

  test("create-image says a missing source archive is not readable", async () => {
    const ws = await workspace();
    await fs.mkdir(ws.target);
    await assert.rejects(extractTar(path.join(ws.dir, "missing.tar"), ws.target, { what: "source missing.tar", whiteouts: "refuse" }), (error: unknown) => {
      assert.ok(error instanceof PypakrError, describeError(error));
      assert.match(error.message, /^source missing\.tar is not a readable tar archive/);
      return true;
    });
  });
});
