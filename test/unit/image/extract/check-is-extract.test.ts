/**
 * The load-time check of a layer (checkLayerArchive) is the extractor run
 * into a tree of names only: whatever unpacking a layer alone refuses, the
 * check refuses with the same message, and what it lets through unpacks.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { checkLayerArchive, extractTar, type ListedEntry } from "../../../../src/image/extract/index.js";
import { PypakrError } from "../../../../src/util/errors.js";
import { tarOf, type TarEntry } from "../../../support/tar.js";
import { bounded } from "../../../support/fuzz.js";
import { makeTempDir, removeDir } from "../../../support/helpers.js";

let scratch = "";
let cases = 0;

before(async () => {
  scratch = await makeTempDir("pypakr-unit-check-is-extract-");
});

after(async () => {
  await removeDir(scratch);
});

const RESERVED = new Set([".pypakr"]);

/** "ok", or the refusal's message: what the store would tell the user. */
async function outcome(run: () => Promise<void>): Promise<string> {
  try {
    await run();
    return "ok";
  } catch (error) {
    if (!(error instanceof PypakrError)) throw error;
    return error.message;
  }
}

/** What checking and unpacking the layer alone (as the store does) each say. */
async function checkAndUnpack(entries: TarEntry[]): Promise<{ check: string; unpack: string }> {
  cases += 1;
  const dir = path.join(scratch, `case-${cases}`);
  const archive = path.join(dir, "layer.tar");
  const tree = path.join(dir, "tree");
  await fs.mkdir(tree, { recursive: true });
  await fs.writeFile(archive, tarOf(entries));
  try {
    const what = "layer 1";
    const check = await outcome(() => checkLayerArchive(archive, { what, reserved: RESERVED }));
    const listing: ListedEntry[] = [];
    const unpack = await outcome(() => extractTar(archive, tree, { what, whiteouts: "record", listing, reserved: RESERVED }));
    return { check, unpack };
  } finally {
    await removeDir(dir);
  }
}

const names = ["a", "b", "s", "t", "a/b", "a/c", "b/a", "s/x", "t/y", "a/b/c", ".wh.a", "a/.wh.b", "a/.wh..wh..opq", "s/.wh.x", ".pypakr", "a/.pypakr"];
const linkTexts = ["a", "b", "s", "t", "..", ".", "a/b", "b/..", "../x", "s/..", "a/../..", "t/y", "s/x", "a/b/c", "/abs"];

const entryArb: fc.Arbitrary<TarEntry> = fc.oneof(
  fc.constantFrom(...names).map((name): TarEntry => ({ name, body: "x" })),
  fc.constantFrom(...names).map((name): TarEntry => ({ name: `${name}/`, type: "directory" })),
  fc.tuple(fc.constantFrom(...names), fc.constantFrom(...linkTexts)).map(([name, linkname]): TarEntry => ({ name, type: "symlink", linkname })),
  fc.tuple(fc.constantFrom(...names), fc.constantFrom(...names)).map(([name, linkname]): TarEntry => ({ name, type: "link", linkname })),
  fc.constantFrom(...names).map((name): TarEntry => ({ name, body: "" })),
);

describe("checkLayerArchive is extractTar without the disk", () => {
  test("a hard link whose own name and whose target are both reached through symlinks is refused for the same reason", async () => {
    // Once the check judged the link's own name first and the extractor its target first: two different refusals.
    const result = await checkAndUnpack([
      { name: "a/", type: "directory" },
      { name: "s", type: "symlink", linkname: "a" },
      { name: "t", type: "symlink", linkname: "a" },
      { name: "s/x", type: "link", linkname: "t/y" },
    ]);
    assert.match(result.unpack, /refusing to extract it/);
    assert.equal(result.check, result.unpack);
  });

  test("arbitrary layers: the check refuses exactly what unpacking refuses, with the same message", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { minLength: 1, maxLength: 8 }), async (entries) => {
        const { check, unpack } = await checkAndUnpack(entries);
        assert.equal(check, unpack);
      }),
      bounded(300, 8000),
    );
  });
});
