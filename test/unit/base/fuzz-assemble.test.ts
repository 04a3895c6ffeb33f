/**
 * Property-based tests of planVenv (src/base/assemble.ts): OCI whiteouts and
 * opaque markers applied across layers, and base records (which planVenv
 * checks as it checks layers) that may be damaged or planted, with
 * fast-check, bounded in runs and time. FUZZ_SEED=<n> replays a seed; FUZZ_SCALE=<k> runs k times as many.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { planVenv, type LayerTree, type PlannedEntry } from "../../../src/base/assemble.js";
import type { Base } from "../../../src/base/base.js";
import type { ManifestEntry } from "../../../src/base/manifest.js";
import type { ListedEntry } from "../../../src/image/extract/index.js";
import { PypakrError } from "../../../src/util/errors.js";
import { bounded } from "../../support/fuzz.js";

const NO_RELOCATION = { files: new Map(), placeholder: "/placeholder-placeholder" };

/** Few names and shallow paths, so entries collide with each other and with the base. */
const relPath = fc.array(fc.constantFrom("a", "b", "c"), { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/"));

function ancestors(file: string): string[] {
  const parts = file.split("/");
  return parts.slice(1).map((_, index) => parts.slice(0, index + 1).join("/"));
}

function isUnder(file: string, dir: string): boolean {
  return file.startsWith(`${dir}/`);
}

/** A well-formed base: every ancestor of an entry is a dir; leaves are files, symlinks or empty dirs. */
const baseArb: fc.Arbitrary<Base> = fc.tuple(fc.uniqueArray(relPath, { maxLength: 10 }), fc.array(fc.constantFrom<ManifestEntry["type"]>("file", "symlink", "dir"), { minLength: 40, maxLength: 40 })).map(([paths, kinds]) => {
  const all = new Set(paths.flatMap((file) => [...ancestors(file), file]));
  const parents = new Set([...all].flatMap(ancestors));
  const entries: ManifestEntry[] = [...all].sort().map((file, index) => {
    const type = parents.has(file) ? "dir" : (kinds[index % kinds.length] ?? "file");
    return type === "symlink" ? { path: file, type, mode: 0o777, link: "x" } : { path: file, type, mode: type === "dir" ? 0o755 : 0o644, size: 1, sha256: `base-${file}` };
  });
  return { dir: "/base", path: "/base-path", entries } as unknown as Base;
});

const entryArb: fc.Arbitrary<ListedEntry> = fc.oneof(
  relPath.map((file): ListedEntry => ({ type: "dir", path: file })),
  relPath.map((file): ListedEntry => ({ type: "file", path: file, executable: false, size: 1, sha256: `layer-${file}` })),
  relPath.map((file): ListedEntry => ({ type: "symlink", path: file, link: "y" })),
  relPath.map((file): ListedEntry => ({ type: "whiteout", path: file })),
  relPath.map((file): ListedEntry => ({ type: "opaque", path: file })),
);
const layerArb = fc.array(entryArb, { maxLength: 8 });

const isMarker = (entry: ListedEntry) => entry.type === "whiteout" || entry.type === "opaque";

function plan(base: Base, layers: ListedEntry[][]): Map<string, PlannedEntry> | PypakrError {
  try {
    return planVenv(
      base,
      layers.map((entries, index): LayerTree => ({ tree: `/layer-${index}`, entries })),
      NO_RELOCATION,
    );
  } catch (error) {
    assert.ok(error instanceof PypakrError, `planVenv threw something other than a PypakrError: ${String(error)}`);
    return error;
  }
}

function assertWellFormed(result: Map<string, PlannedEntry>): void {
  for (const file of result.keys()) {
    for (const dir of ancestors(file)) assert.equal(result.get(dir)?.type, "dir", `${file} is planned, but its ancestor ${dir} is ${result.get(dir)?.type ?? "missing"}`);
  }
}

/**
 * Whether a base entry may be placed, written out independently of
 * src/base/assemble.ts: a plain relative path with no reserved or
 * whiteout-like directory, a mode within 0777, and a symlink whose text is
 * absolute (the base's own interpreter links) or stays inside. A link to
 * itself or to the tree's root escapes nothing: planVenv refuses most such
 * links, but not every spelling (`a -> ./a/`), and either is fine here.
 */
function modelBaseEntry(entry: ManifestEntry): "legal" | "illegal" | "either" {
  const parts = entry.path.split("/");
  if (entry.path === "" || entry.path.startsWith("/") || parts.some((part) => part === "" || part === "." || part === ".." || part === ".pypakr")) return "illegal";
  if (parts.slice(0, -1).some((part) => part.startsWith(".wh."))) return "illegal";
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o777) return "illegal";
  if (entry.type !== "symlink") return "legal";
  const link = entry.link ?? "";
  if (link === "") return "illegal";
  if (link.startsWith("/")) return "legal";
  const stack = parts.slice(0, -1);
  for (const part of link.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (stack.length === 0) return "illegal";
      stack.pop();
    } else stack.push(part);
  }
  return stack.length === 0 || stack.join("/") === entry.path ? "either" : "legal";
}

/** Base entries as a damaged or planted record may hold them: most legal, some not. */
const wildPath = fc.oneof({ weight: 4, arbitrary: relPath }, { weight: 1, arbitrary: fc.constantFrom("..", "../a", "a/../..", "a/..", "/abs", "a//b", "./a", "a/", ".pypakr", ".pypakr/x", "a/.pypakr/b", ".wh.a/b", "", "a/./b") });
const wildEntryArb: fc.Arbitrary<ManifestEntry> = fc.record({
  path: wildPath,
  type: fc.constantFrom<ManifestEntry["type"]>("file", "dir", "symlink"),
  mode: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0o644, 0o755, 0o777) }, { weight: 1, arbitrary: fc.constantFrom(0o4755, 0o1777, 0o2755, -1, 0o7777, 0.5) }),
  link: fc.constantFrom("x", "a", "a/b", ".", "..", "../..", "a/../..", "b/../a", "", "/abs/interpreter", "./a/"),
}).map((entry) => (entry.type === "symlink" ? entry : { path: entry.path, type: entry.type, mode: entry.mode, size: 1, sha256: `base-${entry.path}` }));

/** The base's plan alone (no layers): what lower layers give the first layer. */
function lowerOf(base: Base): Map<string, PlannedEntry> {
  return plan(base, []) as Map<string, PlannedEntry>;
}

describe("fuzz: planVenv", () => {
  test("any layers either plan a tree in which every entry's ancestors are directories, or fail with a PypakrError", () => {
    fc.assert(
      fc.property(baseArb, fc.array(layerArb, { minLength: 1, maxLength: 3 }), (base, layers) => {
        const result = plan(base, layers);
        if (result instanceof Map) assertWellFormed(result);
      }),
      bounded(3000, 2500),
    );
  });

  test("whiteouts and opaque markers alone remove exactly the paths, their subtrees and the opaque dirs' content", () => {
    const markers = fc.array(fc.oneof(relPath.map((file): ListedEntry => ({ type: "whiteout", path: file })), relPath.map((file): ListedEntry => ({ type: "opaque", path: file }))), { maxLength: 4 });
    fc.assert(
      fc.property(baseArb, markers, (base, layer) => {
        const lower = lowerOf(base);
        const result = plan(base, [layer]);
        assert.ok(result instanceof Map, "markers alone never fail");
        const whiteouts = layer.filter((entry) => entry.type === "whiteout").map((entry) => entry.path);
        const opaque = layer.filter((entry) => entry.type === "opaque").map((entry) => entry.path);
        const hidden = (file: string) => whiteouts.some((w) => file === w || isUnder(file, w)) || opaque.some((dir) => isUnder(file, dir));
        const expected = [...lower.keys()].filter((file) => !hidden(file)).sort();
        assert.deepEqual([...result.keys()].sort(), expected);
        for (const file of expected) assert.deepEqual(result.get(file), lower.get(file), `${file} changed`);
      }),
      bounded(3000, 2000),
    );
  });

  test("where the markers sit among a layer's entries does not matter", () => {
    fc.assert(
      fc.property(baseArb, layerArb, fc.array(fc.nat()), (base, layer, positions) => {
        const markers = layer.filter(isMarker);
        const others = layer.filter((entry) => !isMarker(entry));
        // Put each marker at another position among the other entries, which keep their order.
        const moved: ListedEntry[] = [...others];
        for (const [index, marker] of markers.entries()) moved.splice((positions[index] ?? 0) % (moved.length + 1), 0, marker);
        const first = plan(base, [layer]);
        const second = plan(base, [moved]);
        if (first instanceof PypakrError || second instanceof PypakrError) {
          assert.equal(first instanceof PypakrError, second instanceof PypakrError, "one order fails, the other does not");
          return;
        }
        assert.deepEqual(new Map([...second].sort()), new Map([...first].sort()));
      }),
      bounded(3000, 2000),
    );
  });

  test("an opaque marker leaves in its dir only what the same layer put there; lower content elsewhere survives unless replaced", () => {
    fc.assert(
      fc.property(baseArb, layerArb, (base, layer) => {
        const lower = lowerOf(base);
        const result = plan(base, [layer]);
        if (!(result instanceof Map)) return;
        const own = layer.filter((entry) => !isMarker(entry)).map((entry) => entry.path);
        const fromLayer = new Set(own.flatMap((file) => [file, ...ancestors(file)]));
        const whiteouts = layer.filter((entry) => entry.type === "whiteout").map((entry) => entry.path);
        for (const dir of layer.filter((entry) => entry.type === "opaque").map((entry) => entry.path)) {
          for (const file of result.keys()) if (isUnder(file, dir)) assert.ok(fromLayer.has(file), `${file} survived the opaque dir ${dir}, but this layer did not put it there`);
        }
        // Nothing appears from nowhere.
        for (const file of result.keys()) assert.ok(lower.has(file) || fromLayer.has(file), `${file} comes from neither the base nor the layer`);
        // Lower entries nobody touched stay exactly as they were.
        const touched = (file: string) =>
          fromLayer.has(file) ||
          whiteouts.some((w) => file === w || isUnder(file, w)) ||
          layer.some((entry) => (entry.type === "opaque" && isUnder(file, entry.path)) || (!isMarker(entry) && entry.type !== "dir" && isUnder(file, entry.path)));
        for (const [file, entry] of lower) if (!touched(file)) assert.deepEqual(result.get(file), entry, `${file} changed though the layer did not touch it`);
        // The layer's own entries are there, as the last one for each path says, unless a later entry of the layer replaced a dir above them.
        const last = new Map(layer.filter((entry) => !isMarker(entry)).map((entry) => [entry.path, entry.type]));
        for (const [file, type] of last) {
          const replacedAbove = layer.some((other) => !isMarker(other) && other.type !== "dir" && isUnder(file, other.path));
          if (replacedAbove) continue;
          assert.equal(result.get(file)?.type, type, `${file}`);
        }
      }),
      bounded(3000, 2000),
    );
  });

  test("a base record with any entries either plans a tree whose every entry is legal and below directories, or fails with a PypakrError", () => {
    fc.assert(
      fc.property(fc.array(wildEntryArb, { maxLength: 8 }), fc.array(layerArb, { maxLength: 2 }), (entries, layers) => {
        const base = { dir: "/base", path: "/base-path", entries } as unknown as Base;
        const result = plan(base, layers);
        const illegal = entries.filter((entry) => modelBaseEntry(entry) === "illegal");
        if (illegal.length > 0) {
          assert.ok(result instanceof PypakrError, `planned a base holding an illegal entry: ${JSON.stringify(illegal)}`);
          return;
        }
        if (!(result instanceof Map)) return;
        assertWellFormed(result);
        for (const [file, entry] of result) {
          const planned: ManifestEntry = { path: file, type: entry.type, mode: entry.type === "symlink" ? 0o777 : entry.mode, ...(entry.type === "symlink" ? { link: entry.link } : {}) };
          assert.notEqual(modelBaseEntry(planned), "illegal", `${file} is planned as ${JSON.stringify(entry)}`);
        }
      }),
      // The review's attack: a base symlink to a directory outside, and a file to relocate below it.
      bounded<[ManifestEntry[], ListedEntry[][]]>(3000, 2000, [
        [
          [
            { path: "esc", type: "symlink", mode: 0o777, link: "/abs/interpreter" },
            { path: "esc/victim", type: "file", mode: 0o644, size: 1, sha256: "x", relocate: "text" },
          ],
          [],
        ],
      ]),
    );
  });
});
