/**
 * PathMap (src/util/path-map.ts), the trie extraction, the load-time check
 * and planning keep their paths in: a flat map would make dropping a
 * directory's subtree cost the whole map's size.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { ancestors, PathMap } from "../../../src/util/path-map.js";
import { bounded } from "../../support/fuzz.js";

function mapOf(paths: string[]): PathMap<string> {
  const map = new PathMap<string>();
  for (const file of paths) map.set(file, `value of ${file}`);
  return map;
}

describe("PathMap", () => {
  test("PathMap sets, gets and overwrites values by path", () => {
    const map = new PathMap<number>();
    assert.equal(map.size, 0);
    map.set("a/b/c", 1);
    map.set("a", 2);
    map.set("a/b/c", 3);
    assert.equal(map.get("a/b/c"), 3);
    assert.equal(map.get("a"), 2);
    assert.equal(map.size, 2, "overwriting does not count twice");
  });

  test("PathMap knows a parent it made on the way down is not itself present", () => {
    const map = mapOf(["a/b/c"]);
    assert.equal(map.has("a/b/c"), true);
    assert.equal(map.has("a/b"), false);
    assert.equal(map.get("a/b"), undefined);
    assert.equal(map.has("a/b/c/d"), false);
    assert.equal(map.has("x"), false);
    assert.equal(map.size, 1);
  });

  test("PathMap tells a present undefined value from an absent path", () => {
    const map = new PathMap<undefined>();
    map.set("a", undefined);
    assert.equal(map.has("a"), true);
    assert.equal(map.size, 1);
  });

  test("PathMap keeps names that only look alike apart", () => {
    const map = mapOf(["a", "a-b", "a.b", "ab", "a/b"]);
    assert.equal(map.size, 5);
    for (const file of ["a", "a-b", "a.b", "ab", "a/b"]) assert.equal(map.get(file), `value of ${file}`);
    map.deleteTree("a");
    assert.deepEqual([...map.entries()].map(([file]) => file), ["a-b", "a.b", "ab"]);
  });

  test("PathMap.deleteTree drops the path and everything below it, and nothing beside it", () => {
    const map = mapOf(["a", "a/b", "a/b/c", "a/d", "ab", "x/a/b"]);
    map.deleteTree("a");
    assert.deepEqual([...map.entries()].map(([file]) => file), ["ab", "x/a/b"]);
    assert.equal(map.size, 2);
  });

  test("PathMap.deleteTree of a path only implied by a deeper one drops the deeper one", () => {
    const map = mapOf(["a/b/c", "a/x"]);
    map.deleteTree("a/b");
    assert.deepEqual([...map.entries()].map(([file]) => file), ["a/x"]);
    assert.equal(map.size, 1);
  });

  test("PathMap.deleteTree and deleteBelow of an absent path change nothing", () => {
    const map = mapOf(["a/b"]);
    map.deleteTree("nothing");
    map.deleteTree("a/b/c/d");
    map.deleteBelow("nothing");
    map.deleteBelow("a/b");
    assert.deepEqual([...map.entries()].map(([file]) => file), ["a/b"]);
    assert.equal(map.size, 1);
  });

  test("PathMap.deleteBelow keeps the path itself and drops what is below it", () => {
    const map = mapOf(["d", "d/a", "d/a/b", "d/c", "e"]);
    map.deleteBelow("d");
    assert.deepEqual([...map.entries()].map(([file]) => file), ["d", "e"]);
    assert.equal(map.size, 2);
    map.set("d/new", "new");
    assert.deepEqual([...map.entries()].map(([file]) => file), ["d", "d/new", "e"]);
  });

  test("PathMap.parents walks each proper parent, outermost first, with what is there", () => {
    const map = mapOf(["a", "a/b/c"]);
    assert.deepEqual(
      [...map.parents("a/b/c/d")],
      [
        { path: "a", present: true, value: "value of a" },
        { path: "a/b", present: false, value: undefined },
        { path: "a/b/c", present: true, value: "value of a/b/c" },
      ],
    );
    assert.deepEqual([...map.parents("top")], []);
    assert.deepEqual([...map.parents("x/y")], [{ path: "x", present: false, value: undefined }]);
  });

  test("PathMap.setUnder makes missing parents, stops at a refused one, and drops what a replaced value held", () => {
    const parents = { missing: "made", accept: (value: string | undefined) => value !== "file" };
    const map = new PathMap<string>();
    assert.equal(map.setUnder("a/b/c", "c", parents, () => false), null);
    assert.deepEqual([...map.entries()], [["a", "made"], ["a/b", "made"], ["a/b/c", "c"]]);
    assert.equal(map.size, 3);
    map.set("f", "file");
    assert.deepEqual(map.setUnder("f/g/h", "h", parents, () => false), { path: "f", value: "file" });
    assert.equal(map.has("f/g"), false, "nothing is made below a refused parent");
    assert.equal(map.size, 4);
    // Replacing "a/b" with dropBelow true takes "a/b/c" with it; false keeps it.
    assert.equal(map.setUnder("a/b", "kept-below", parents, () => false), null);
    assert.equal(map.get("a/b/c"), "c");
    assert.equal(map.setUnder("a/b", "replaced", parents, (old) => old === "kept-below"), null);
    assert.deepEqual([...map.entries()], [["a", "made"], ["a/b", "replaced"], ["f", "file"]]);
    assert.equal(map.size, 3);
  });

  test("PathMap.entries lists parents before their children, siblings in code-unit order", () => {
    const map = mapOf(["b", "a/z", "a-b", "a", "a/b/c", "B", "é"]);
    // Not plain sorted order, where "a-b" would come before "a/b/c": a parent's subtree comes first.
    assert.deepEqual([...map.entries()], [
      ["B", "value of B"],
      ["a", "value of a"],
      ["a/b/c", "value of a/b/c"],
      ["a/z", "value of a/z"],
      ["a-b", "value of a-b"],
      ["b", "value of b"],
      ["é", "value of é"],
    ]);
  });

  test("PathMap matches a flat map under any sequence of operations", () => {
    const name = fc.array(fc.constantFrom("a", "b", "a-b", "c"), { minLength: 1, maxLength: 4 }).map((parts) => parts.join("/"));
    const operation = fc.oneof(
      fc.tuple(fc.constant("set" as const), name, fc.integer()),
      fc.tuple(fc.constant("deleteTree" as const), name, fc.constant(0)),
      fc.tuple(fc.constant("deleteBelow" as const), name, fc.constant(0)),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 30 }), (operations) => {
        const map = new PathMap<number>();
        const model = new Map<string, number>();
        for (const [op, file, value] of operations) {
          if (op === "set") {
            map.set(file, value);
            model.set(file, value);
          } else {
            if (op === "deleteTree") map.deleteTree(file);
            else map.deleteBelow(file);
            for (const key of [...model.keys()]) if ((op === "deleteTree" && key === file) || key.startsWith(`${file}/`)) model.delete(key);
          }
        }
        assert.equal(map.size, model.size);
        const listed = [...map.entries()];
        assert.deepEqual(new Map(listed), model);
        assert.equal(listed.length, model.size);
        // Parents first: each entry's listed ancestors come before it.
        const seen = new Set<string>();
        for (const [file] of listed) {
          for (const parent of map.parents(file)) if (model.has(parent.path)) assert.ok(seen.has(parent.path), `${parent.path} listed after ${file}`);
          seen.add(file);
        }
        for (const key of model.keys()) assert.equal(map.get(key), model.get(key));
      }),
      bounded(2000, 1500),
    );
  });
});

describe("ancestors", () => {
  test("lists each proper parent, outermost first", () => {
    assert.deepEqual(ancestors("a/b/c"), ["a", "a/b"]);
    assert.deepEqual(ancestors("a"), []);
  });
});
