/**
 * Property-based tests of tar entry names, and of hostile layers and
 * source archives on the path production runs them through (layers:
 * test/support/assemble.ts, which runs the load-time check, unpacking into
 * the store, planVenv and writeVenvTree; sources: extractTar as create-image
 * runs it), with fast-check. Each property is bounded by a number of runs and a time limit,
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
import { PLACEHOLDER } from "../../../../src/image/relocation.js";
import { normalizeEntryName, unsafeNameReason } from "../../../../src/util/tar.js";
import { assembleLayers, assemblyWorkspace, extractSourceArchive, SENTINEL_TEXT, venvBase, VICTIM_TEXT, type Assembly, type AssemblyWorkspace } from "../../../support/assemble.js";
import { tarOf, type TarEntryType } from "../../../support/tar.js";
import { makeTempDir, removeDir } from "../../../support/helpers.js";
import { bounded } from "../../../support/fuzz.js";

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
// Layers and sources made of arbitrary entries

type EntryType = Extract<TarEntryType, "file" | "directory" | "symlink" | "link" | "fifo" | "character-device">;

interface FuzzEntry {
  name: string;
  type: EntryType;
  linkname: string;
  mode: number;
  body: string;
}

/** Names that collide with what the base already holds, and with each other, and names no layer may use. */
const pathPart = fc.constantFrom("a", "b", "d", "lib", "lib64", "trusted-link", ".pypakr", ".wh.a", ".wh.b", ".wh.lib", ".wh.trusted-link", ".wh..wh..opq", ".wh.", "..", ".");
const fuzzName = fc
  .tuple(fc.constantFrom("", "", "", "./", "/", "../"), fc.array(pathPart, { minLength: 1, maxLength: 3 }), fc.constantFrom("", "", "/"))
  .map(([lead, parts, trail]) => `${lead}${parts.join("/")}${trail}`);
/** Link targets: "@OUT" and "@TRUSTED" become absolute paths beside the container when the archive is written. */
const fuzzLink = fc.oneof(
  fc.constantFrom("..", "../", ".", "", "../outside", "../outside/victim", "@OUT", "@OUT/victim", "@TRUSTED", "trusted-link", "../trusted-link", "trusted-link/x", "lib64", "lib", "a", "a/b", "../a", "../..", "d/../..", "b/../../outside"),
  fuzzName,
);
const fuzzMode = fc.oneof(fc.constantFrom(0o644, 0o755, 0o4755, 0o2755, 0o1777, 0o777), fc.integer({ min: 0, max: 0o7777 }));
const fuzzBody = fc.oneof(fc.constant(""), fc.constantFrom("x", `${PLACEHOLDER}/bin/python\0`, `#!${PLACEHOLDER}/bin/python\n`), fc.string({ maxLength: 8 }));
/** Anything: most such entries are refused, each for its own reason. */
const wildEntry: fc.Arbitrary<FuzzEntry> = fc.record({
  name: fuzzName,
  type: fc.constantFrom<EntryType>("file", "file", "file", "directory", "directory", "symlink", "symlink", "link", "link", "fifo", "character-device"),
  linkname: fuzzLink,
  mode: fuzzMode,
  body: fuzzBody,
});
/**
 * Entries a layer may well hold (plain names, links that read as inside,
 * whiteouts and opaque markers), so that layers get past the checks and
 * stack up on each other and on the base often enough to matter.
 */
const tameParts = fc.array(fc.constantFrom("a", "b", "c", "d", "lib", "lib64", "trusted-link"), { minLength: 1, maxLength: 3 });
const tameName = tameParts.map((parts) => parts.join("/"));
const tameEntry: fc.Arbitrary<FuzzEntry> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      name: tameName,
      type: fc.constantFrom<EntryType>("file", "file", "file", "directory", "directory", "symlink"),
      linkname: fc.constantFrom("a", "b", "c", "lib", "lib/b", "../a", "../lib", "lib64", "lib64/b", "trusted-link", "trusted-link/x", "d/..", "c/d", "../../b"),
      mode: fuzzMode,
      body: fuzzBody,
    }),
  },
  { weight: 1, arbitrary: fc.record({ name: tameName, type: fc.constant<EntryType>("link"), linkname: tameName, mode: fuzzMode, body: fc.constant("") }) },
  { weight: 1, arbitrary: tameParts.map((parts): FuzzEntry => ({ name: [...parts.slice(0, -1), `.wh.${parts[parts.length - 1] ?? ""}`].join("/"), type: "file", linkname: "", mode: 0o644, body: "" })) },
  { weight: 1, arbitrary: tameName.map((dir): FuzzEntry => ({ name: `${dir}/.wh..wh..opq`, type: "file", linkname: "", mode: 0o644, body: "" })) },
);
const fuzzEntry: fc.Arbitrary<FuzzEntry> = fc.oneof({ weight: 9, arbitrary: tameEntry }, { weight: 1, arbitrary: wildEntry });

let scratch = "";
before(async () => {
  scratch = await makeTempDir("pypakr-fuzz-tar-");
});
after(async () => {
  await fs.rm(scratch, { recursive: true, force: true, maxRetries: 3 });
});

/**
 * The base every layer lands on: a venv (bin/python an absolute link to
 * the interpreter outside) plus a file, a dir, `lib64 -> lib` and
 * `trusted-link -> interpreter/` (a base's absolute link, which production
 * trusts), so layer entries collide with all of them.
 */
function fuzzBase(ws: AssemblyWorkspace) {
  return venvBase(ws, [
    { path: "a", type: "file", relocate: "text" },
    { path: "lib/b", type: "file", mode: 0o755 },
    { path: "d", type: "dir" },
    { path: "lib64", type: "symlink", link: "lib" },
    { path: "trusted-link", type: "symlink", link: ws.interpreterDir },
  ]);
}

function archiveOf(entries: FuzzEntry[], ws: AssemblyWorkspace): Buffer {
  return tarOf(
    entries.map((entry) => ({
      name: entry.name,
      type: entry.type,
      mode: entry.mode,
      body: entry.type === "file" ? entry.body : "",
      ...(entry.type === "symlink" || entry.type === "link" ? { linkname: entry.linkname.replace("@OUT", ws.outside).replace("@TRUSTED", ws.interpreterDir) } : {}),
    })),
  );
}

/** The message of a failure on a system call about the target: never expected from well-formed tars on a healthy disk. */
const UNEXPECTED_FS_FAILURE = /^cannot extract .* into /;

async function settleWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} hung for ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** What holds whether or not the image was refused: the outside as it was, and nothing unsafe inside. */
async function checkInvariants(ws: AssemblyWorkspace, result: Pick<Assembly, "error" | "tree" | "changedOutside" | "escapingLinks"> & { refusedAt?: Assembly["refusedAt"] }, wellFormed: boolean): Promise<void> {
  // assembleLayers and extractSourceArchive throw on any failure other than a PypakrError.
  if (result.error && wellFormed) assert.doesNotMatch(result.error.message, UNEXPECTED_FS_FAILURE, "a well-formed archive made the extractor trip over its own tree");
  assert.equal(await fs.readFile(ws.sentinel, "utf8"), SENTINEL_TEXT);
  assert.equal(await fs.readFile(ws.victim, "utf8"), VICTIM_TEXT);
  assert.deepEqual(result.changedOutside, [], "something outside the container changed");
  if (result.tree === null) return;
  // Inside: no special files, no setuid/setgid/sticky, nothing world-writable.
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const name of await fs.readdir(dir)) {
      const relative = prefix ? `${prefix}/${name}` : name;
      const stat = await fs.lstat(path.join(dir, name));
      assert.ok(stat.isFile() || stat.isDirectory() || stat.isSymbolicLink(), `${relative} is a special file`);
      if (stat.isSymbolicLink()) continue;
      assert.equal(stat.mode & 0o7000, 0, `${relative} has mode ${(stat.mode & 0o7777).toString(8)}`);
      assert.equal(stat.mode & 0o002, 0, `${relative} is world-writable`);
      if (stat.isDirectory()) await walk(path.join(dir, name), relative);
    }
  };
  await walk(result.tree, "");
  // A refused create-container's staging dir is removed whole, so only a finished tree must hold no escaping link.
  if (result.error === null) assert.deepEqual(result.escapingLinks, [], "a symlink in the container leads outside it");
}

/** Assembles `layers` on the fuzz base the way create-container would, then checks the invariants. */
async function assembleAndCheck(layers: FuzzEntry[][] | Buffer[], options: { wellFormed: boolean; gzip?: boolean; loadCheck?: boolean }): Promise<Assembly> {
  const ws = await assemblyWorkspace(scratch);
  try {
    const archives: Buffer[] = [];
    for (const layer of layers) {
      const bytes = Buffer.isBuffer(layer) ? layer : archiveOf(layer, ws);
      archives.push(options.gzip ? gzipSync(bytes) : bytes);
    }
    const result = await settleWithin(
      assembleLayers({
        ws,
        layers: archives,
        base: fuzzBase(ws),
        loadCheck: options.loadCheck ?? true,
        relocation: {
          files: [
            { path: "a", kind: "text" },
            { path: "b", kind: "binary" },
            { path: "lib/b", kind: "binary" },
          ],
        },
      }),
      30_000,
      "assembling",
    );
    await checkInvariants(ws, result, options.wellFormed);
    return result;
  } finally {
    await removeDir(ws.dir);
  }
}

describe("fuzz: create-container on arbitrary layers", () => {
  test("arbitrary layers never change anything outside the container, and fail only with a PypakrError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fuzzEntry, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 2 }), fc.boolean(), fc.boolean(), async (layers, gzip, loadCheck) => {
        await assembleAndCheck(layers, { wellFormed: true, gzip, loadCheck });
      }),
      bounded(250, 6000),
    );
  });

  test("damaged layers (bytes changed, cut short, gzipped) fail with a PypakrError or assemble safely, and never hang", async () => {
    const mutation = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(fuzzEntry, { minLength: 1, maxLength: 5 }), fc.array(mutation, { maxLength: 6 }), fc.option(fc.nat()), fc.boolean(), fc.boolean(), async (entries, mutations, cut, gzip, loadCheck) => {
        const ws = await assemblyWorkspace(scratch);
        const bytes = Buffer.from(archiveOf(entries, ws));
        await removeDir(ws.dir);
        for (const { at, value } of mutations) bytes[at % bytes.length] = value;
        const damaged = cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
        await assembleAndCheck([damaged], { wellFormed: false, gzip, loadCheck });
      }),
      bounded(200, 4000),
    );
  });

  test("regression: an opaque whiteout never deletes through a symlink the same layer put where it had written a directory", async () => {
    const entries: FuzzEntry[] = [
      { name: "d/s/f", type: "file", linkname: "", mode: 0o644, body: "x" },
      { name: "d/s", type: "symlink", linkname: "../trusted-link", mode: 0o777, body: "" },
      { name: "d/.wh..wh..opq", type: "file", linkname: "", mode: 0o644, body: "" },
    ];
    // Once, interpreter/ (outside the container, reached through the base's absolute link) lost its files.
    for (const loadCheck of [true, false]) await assembleAndCheck([entries], { wellFormed: true, loadCheck });
  });

  for (const [name, entries] of [
    ["a hard link to itself", [{ name: "c", type: "file", linkname: "", mode: 0o644, body: "x" }, { name: "c", type: "link", linkname: "c", mode: 0o644, body: "" }]],
    ["a hard link to a file below itself", [{ name: "e/f", type: "file", linkname: "", mode: 0o644, body: "x" }, { name: "e", type: "link", linkname: "e/f", mode: 0o644, body: "" }]],
  ] as [string, FuzzEntry[]][]) {
    test(`regression: ${name} is refused as an archive problem, not reported as a disk failure`, async () => {
      for (const loadCheck of [true, false]) {
        const result = await assembleAndCheck([entries], { wellFormed: true, loadCheck });
        assert.notEqual(result.refusedAt, null);
        assert.match(result.error?.message ?? "", /refusing to extract it/);
      }
    });
  }
});

describe("fuzz: create-image on arbitrary source archives", () => {
  test("arbitrary source archives are extracted inside the target or refused with a PypakrError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fuzzEntry, { minLength: 1, maxLength: 8 }), async (entries) => {
        const ws = await assemblyWorkspace(scratch);
        try {
          const result = await settleWithin(extractSourceArchive(ws, archiveOf(entries, ws)), 30_000, "extracting");
          await checkInvariants(ws, result, true);
          if (result.error === null) assert.deepEqual(result.escapingLinks, []);
        } finally {
          await removeDir(ws.dir);
        }
      }),
      bounded(200, 3000),
    );
  });
});
