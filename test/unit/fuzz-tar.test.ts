/**
 * Property-based tests of tar entry names and of the extractor, with
 * fast-check. Each property is bounded by a number of runs and a time limit,
 * so the whole file stays within a few seconds in CI; a failure prints the
 * seed and the shrunk counterexample. FUZZ_SEED=<n> replays a seed and
 * FUZZ_SCALE=<k> runs k times as many cases (and allows k times the time).
 *
 * Counterexamples found so far are kept as fixed `examples` (they run first,
 * every time) and, where the bug is not fixed yet, as plain tests named after
 * the bug.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import tar from "tar-stream";
import { checkSymlinks, extractTar, type ExtractOptions, type ListedEntry } from "../../src/image/extract.js";
import { PLACEHOLDER } from "../../src/image/relocation.js";
import { PypakrError } from "../../src/util/errors.js";
import { normalizeEntryName, unsafeNameReason } from "../../src/util/tar.js";
import { makeTempDir, removeDir } from "../support/helpers.js";
import { bounded } from "../support/fuzz.js";

// ---------------------------------------------------------------------------
// Entry names against a reference model

/** PEP 706's `data` filter for names, written out independently of src/util/tar.ts. */
function modelName(name: string): { path: string } | { error: true } {
  if (name.includes("\0") || name.includes("\\") || name.includes("\uFFFD")) return { error: true };
  if (name.startsWith("/")) return { error: true };
  const kept: string[] = [];
  for (const part of name.split("/")) {
    if (part === "..") return { error: true };
    if (part !== "" && part !== ".") kept.push(part);
  }
  // A drive letter counts wherever the first real component starts ("C:x" and "./C:x" alike).
  const first = kept[0] ?? "";
  const letter = /^[A-Za-z]$/.test(first.charAt(0));
  if (letter && first[1] === ":") return { error: true };
  return { path: kept.join("/") };
}

const nameComponent = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("a", "b", "lib", ".", "..", "", "...", "..a", "a..", ".wh.a", "C:", "c:x", "a\\b", "\\", "\0", "x y", "é") },
  { weight: 1, arbitrary: fc.string({ maxLength: 4, unit: "binary" }) },
);
const entryName = fc
  .tuple(fc.constantFrom("", "", "/", "./", "//", "C:", "a:"), fc.array(nameComponent, { minLength: 0, maxLength: 5 }), fc.constantFrom("", "/"))
  .map(([lead, parts, trail]) => `${lead}${parts.join("/")}${trail}`);

describe("fuzz: entry names", () => {
  test("normalizeEntryName and unsafeNameReason agree with a reference model, and with each other", () => {
    fc.assert(
      fc.property(fc.oneof(entryName, fc.string({ unit: "binary" })), (name) => {
        const expected = modelName(name);
        const actual = normalizeEntryName(name);
        assert.equal("error" in actual, "error" in expected, `safety of ${JSON.stringify(name)}`);
        assert.equal(unsafeNameReason(name) === null, "path" in actual);
        if ("path" in actual && "path" in expected) assert.equal(actual.path, expected.path);
      }),
      bounded(3000, 1500, [["a/./b//"], ["C:x"], ["..\\x"], ["a/.."], ["\0"], [""]]),
    );
  });

  test("a safe name normalizes to a canonical relative path that stays under any root", () => {
    fc.assert(
      fc.property(entryName, (name) => {
        const result = normalizeEntryName(name);
        if ("error" in result) return;
        const normal = result.path;
        assert.deepEqual(normalizeEntryName(normal), { path: normal }, "idempotent");
        if (normal === "") return;
        assert.ok(normal.split("/").every((part) => part !== "" && part !== "." && part !== ".."), normal);
        const joined = path.posix.join("/root/target", normal);
        assert.ok(joined.startsWith("/root/target/"), `${name} -> ${joined}`);
        assert.equal(path.posix.normalize(normal), normal);
      }),
      bounded(3000, 1500),
    );
  });

  test("regression: a drive-letter name behind ./ is refused, as its normal form is", () => {
    for (const name of ["./C:", "./C:x", ".//c:/x"]) {
      const result = normalizeEntryName(name);
      assert.ok("error" in result || "path" in normalizeEntryName(result.path), `${JSON.stringify(name)} -> ${JSON.stringify(result)}, whose normal form is refused`);
    }
  });
});

// ---------------------------------------------------------------------------
// The extractor on arbitrary entry lists

type EntryType = "file" | "directory" | "symlink" | "link" | "fifo" | "character-device";

interface FuzzEntry {
  name: string;
  type: EntryType;
  linkname: string;
  mode: number;
  body: string;
}

/** Names that collide with what the tree already holds, and with each other. */
const pathPart = fc.constantFrom("a", "b", "d", "lib", "lib64", "trusted-link", ".pypakr", ".wh.a", ".wh.b", ".wh.lib", ".wh.trusted-link", ".wh..wh..opq", ".wh.", "..", ".");
const fuzzName = fc
  .tuple(fc.constantFrom("", "", "", "./", "/", "../"), fc.array(pathPart, { minLength: 1, maxLength: 3 }), fc.constantFrom("", "", "/"))
  .map(([lead, parts, trail]) => `${lead}${parts.join("/")}${trail}`);
/** Link targets: "@OUT" and "@TRUSTED" become absolute paths beside the target when the archive is written. */
const fuzzLink = fc.oneof(
  fc.constantFrom("..", "../", ".", "", "../outside", "../outside/x", "@OUT", "@OUT/x", "@TRUSTED", "trusted-link", "../trusted-link", "trusted-link/x", "lib64", "lib", "a", "a/b", "../a", "../..", "d/../..", "b/../../outside"),
  fuzzName,
);
const fuzzEntry: fc.Arbitrary<FuzzEntry> = fc.record({
  name: fuzzName,
  type: fc.constantFrom<EntryType>("file", "file", "file", "directory", "directory", "symlink", "symlink", "link", "link", "fifo", "character-device"),
  linkname: fuzzLink,
  mode: fc.oneof(fc.constantFrom(0o644, 0o755, 0o4755, 0o2755, 0o1777, 0o777), fc.integer({ min: 0, max: 0o7777 })),
  body: fc.oneof(fc.constant(""), fc.constantFrom("x", `${PLACEHOLDER}/bin/python\0`, `#!${PLACEHOLDER}/bin/python\n`), fc.string({ maxLength: 8 })),
});
const whiteoutMode = fc.constantFrom<ExtractOptions["whiteouts"]>("apply", "record", "refuse");

interface Workspace {
  parent: string;
  root: string;
  outside: string;
  trusted: string;
}

let scratch = "";
let caseNumber = 0;
before(async () => {
  scratch = await makeTempDir("pypakr-fuzz-tar-");
});
after(async () => {
  await removeDir(scratch);
});

/**
 * parent/
 *   root/          the target, holding what a base and lower layers would:
 *                  a dir, a file, `lib64 -> lib` and `trusted-link -> parent/trusted` (a base's absolute link)
 *   outside/x      must never change
 *   trusted/x      reachable through the trusted link; must never change either
 *   sentinel
 */
async function workspace(): Promise<Workspace> {
  caseNumber += 1;
  const parent = path.join(scratch, `case-${caseNumber}`);
  const root = path.join(parent, "root");
  const outside = path.join(parent, "outside");
  const trusted = path.join(parent, "trusted");
  for (const dir of [root, outside, trusted, path.join(root, "lib"), path.join(root, "d")]) await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  await fs.writeFile(path.join(outside, "x"), "outside\n");
  await fs.writeFile(path.join(trusted, "x"), "trusted\n");
  await fs.writeFile(path.join(parent, "sentinel"), "sentinel\n");
  await fs.writeFile(path.join(root, "a"), "lower\n", { mode: 0o644 });
  await fs.writeFile(path.join(root, "lib", "b"), "lower\n", { mode: 0o755 });
  await fs.symlink("lib", path.join(root, "lib64"));
  await fs.symlink(trusted, path.join(root, "trusted-link"));
  return { parent, root, outside, trusted };
}

async function tarBytes(entries: FuzzEntry[], ws: Workspace): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    const linkname = entry.linkname.replace("@OUT", ws.outside).replace("@TRUSTED", ws.trusted);
    const body = entry.type === "file" ? Buffer.from(entry.body) : Buffer.alloc(0);
    const special = entry.type === "character-device" ? { devmajor: 1, devminor: 3 } : {};
    const link = entry.type === "symlink" || entry.type === "link" ? { linkname } : {};
    pack.entry({ name: entry.name, type: entry.type, mode: entry.mode, mtime: new Date(0), size: body.length, ...special, ...link }, body);
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

interface Snapshot {
  [relative: string]: string;
}

/** Everything under `dir` (not following links): type, mode, link count, content or link target. */
async function snapshot(dir: string, skip: (relative: string) => boolean = () => false): Promise<Snapshot> {
  const out: Snapshot = {};
  const walk = async (current: string, prefix: string): Promise<void> => {
    for (const name of (await fs.readdir(current)).sort()) {
      const relative = prefix ? `${prefix}/${name}` : name;
      if (skip(relative)) continue;
      const full = path.join(current, name);
      const stat = await fs.lstat(full);
      const head = `${stat.mode.toString(8)} n${stat.nlink}`;
      if (stat.isDirectory()) {
        out[relative] = `${head} dir`;
        await walk(full, relative);
      } else if (stat.isSymbolicLink()) out[relative] = `${head} -> ${await fs.readlink(full)}`;
      else out[relative] = `${head} ${(await fs.readFile(full)).toString("base64")}`;
    }
  };
  await walk(dir, "");
  return out;
}

/** Where following `relative` leads, as the kernel would; for a dangling link, where a write through it would land. */
async function landing(root: string, relative: string): Promise<string> {
  const full = path.join(root, relative);
  const real = await fs.realpath(full).catch(() => null);
  if (real !== null) return real;
  // Dangling: resolve the link's directory for real, then the rest by hand, one link at a time.
  let current = full;
  for (let hops = 0; hops < 40; hops++) {
    const stat = await fs.lstat(current).catch(() => null);
    if (!stat?.isSymbolicLink()) break;
    const target = await fs.readlink(current);
    const dir = await fs.realpath(path.dirname(current)).catch(() => path.dirname(current));
    current = path.resolve(dir, target);
  }
  const dir = await fs.realpath(path.dirname(current)).catch(() => path.dirname(current));
  return path.join(dir, path.basename(current));
}

function isInside(dir: string, file: string): boolean {
  return file === dir || file.startsWith(`${dir}/`);
}

/** The message of an extraction that failed on a system call about the target: never expected from well-formed tars on a healthy disk. */
const UNEXPECTED_FS_FAILURE = /^cannot extract .* into /;

/**
 * Runs the archives in order into `ws.root` the way a container would, then
 * checks the invariants that hold whether or not extraction succeeded.
 */
async function extractAndCheck(archives: Buffer[], ws: Workspace, whiteouts: ExtractOptions["whiteouts"], options: { wellFormed: boolean; gzip?: boolean }): Promise<{ ok: boolean; error?: PypakrError }> {
  const before = await snapshot(ws.parent, (relative) => relative === "root" || relative.startsWith("root/") || relative.startsWith("layer-"));
  const madeLinks = new Set<string>();
  let failure: unknown = null;
  const listing: ListedEntry[] = [];
  const run = async () => {
    for (const [index, bytes] of archives.entries()) {
      const file = path.join(ws.parent, `layer-${index}.tar${options.gzip ? ".gz" : ""}`);
      await fs.writeFile(file, options.gzip ? gzipSync(bytes) : bytes);
      const links = await extractTar(file, ws.root, {
        what: `layer ${index}`,
        whiteouts,
        listing,
        reserved: new Set([".pypakr"]),
        relocation: { files: new Map([["a", "text"], ["b", "binary"], ["lib/b", "binary"]]), from: PLACEHOLDER, to: "/short/container" },
      });
      for (const link of links) madeLinks.add(link);
    }
    await checkSymlinks(ws.root, madeLinks, "the layers together");
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([run(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("extraction hung for 10 s")), 10_000)))]);
  } catch (error) {
    failure = error;
  } finally {
    clearTimeout(timer);
  }
  if (failure !== null) {
    assert.ok(failure instanceof PypakrError, `extraction failed with something other than a PypakrError: ${failure instanceof Error ? (failure.stack ?? failure.message) : JSON.stringify(failure)}`);
    if (options.wellFormed) assert.doesNotMatch(failure.message, UNEXPECTED_FS_FAILURE, "a well-formed archive made the extractor trip over its own tree");
  }

  // Nothing beside the target changed: no file, link count, mode or content.
  const afterSnap = await snapshot(ws.parent, (relative) => relative === "root" || relative.startsWith("root/") || relative.startsWith("layer-"));
  assert.deepEqual(afterSnap, before, "something outside the target changed");

  // Inside: no special files, no setuid/setgid/sticky, nothing world-writable.
  const inside = await snapshot(ws.root);
  for (const relative of Object.keys(inside)) {
    const stat = await fs.lstat(path.join(ws.root, relative));
    assert.ok(stat.isFile() || stat.isDirectory() || stat.isSymbolicLink(), `${relative} is a special file`);
    if (!stat.isSymbolicLink()) {
      assert.equal(stat.mode & 0o7000, 0, `${relative} has mode ${(stat.mode & 0o7777).toString(8)}`);
      assert.equal(stat.mode & 0o002, 0, `${relative} is world-writable`);
    }
  }

  // On success, every link the archives made lands inside the target (or goes through the base's trusted link).
  if (failure === null) {
    for (const link of madeLinks) {
      const stat = await fs.lstat(path.join(ws.root, link)).catch(() => null);
      if (!stat?.isSymbolicLink()) continue;
      const lands = await landing(ws.root, link);
      assert.ok(isInside(ws.root, lands) || isInside(ws.trusted, lands), `the symlink ${link} -> ${await fs.readlink(path.join(ws.root, link))} lands on ${lands}, outside the target`);
    }
  }
  return failure === null ? { ok: true } : { ok: false, error: failure };
}

describe("fuzz: extractTar", () => {
  test("arbitrary entry lists never write outside the target, and fail only with a PypakrError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fuzzEntry, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 2 }), whiteoutMode, fc.boolean(), async (layers, whiteouts, gzip) => {
        const ws = await workspace();
        try {
          const archives = [];
          for (const layer of layers) archives.push(await tarBytes(layer, ws));
          await extractAndCheck(archives, ws, whiteouts, { wellFormed: true, gzip });
        } finally {
          await removeDir(ws.parent);
        }
      }),
      bounded(250, 6000),
    );
  });

  test("damaged archives (bytes changed, cut short, gzipped) fail with a PypakrError or extract safely, and never hang", async () => {
    const mutation = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(fuzzEntry, { minLength: 1, maxLength: 5 }), fc.array(mutation, { maxLength: 6 }), fc.option(fc.nat()), fc.boolean(), async (entries, mutations, cut, gzip) => {
        const ws = await workspace();
        try {
          const bytes = Buffer.from(await tarBytes(entries, ws));
          for (const { at, value } of mutations) bytes[at % bytes.length] = value;
          const damaged = cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
          await extractAndCheck([damaged], ws, "apply", { wellFormed: false, gzip });
        } finally {
          await removeDir(ws.parent);
        }
      }),
      bounded(200, 4000),
    );
  });

  test("regression: an opaque whiteout never deletes through a symlink the same layer put where it had written a directory", async () => {
    const ws = await workspace();
    try {
      const entries: FuzzEntry[] = [
        { name: "d/s/f", type: "file", linkname: "", mode: 0o644, body: "x" },
        { name: "d/s", type: "symlink", linkname: "../trusted-link", mode: 0o777, body: "" },
        { name: "d/.wh..wh..opq", type: "file", linkname: "", mode: 0o644, body: "" },
      ];
      // Before the fix, trusted/x (outside the target, reached through the base's absolute link) is deleted.
      await extractAndCheck([await tarBytes(entries, ws)], ws, "apply", { wellFormed: true });
    } finally {
      await removeDir(ws.parent);
    }
  });

  for (const [name, entries] of [
    ["a hard link to itself", [{ name: "c", type: "file", linkname: "", mode: 0o644, body: "x" }, { name: "c", type: "link", linkname: "c", mode: 0o644, body: "" }]],
    ["a hard link to a file below itself", [{ name: "e/f", type: "file", linkname: "", mode: 0o644, body: "x" }, { name: "e", type: "link", linkname: "e/f", mode: 0o644, body: "" }]],
  ] as [string, FuzzEntry[]][]) {
    test(`regression: ${name} is refused as an archive problem, not reported as a disk failure`, async () => {
      const ws = await workspace();
      try {
        const result = await extractAndCheck([await tarBytes(entries, ws)], ws, "record", { wellFormed: true });
        assert.equal(result.ok, false);
      } finally {
        await removeDir(ws.parent);
      }
    });
  }
});
