/**
 * The unpacked-layer cache (src/store/layers.ts): a listing read back from
 * the store is checked entry by entry (by a predicate rather than a zod
 * object per entry, for speed), so a damaged one is refused as the store's
 * damage, with the fix, never used.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { unpackLayer } from "../../../src/store/layers.js";
import { Store } from "../../../src/store/store.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

let root = "";
before(async () => {
  root = await makeTempDir();
});
after(() => removeDir(root));

const DIGEST = `sha256:${"ab".repeat(32)}`;
const GOOD_FILE = { type: "file", path: "pkg/a.py", executable: false, size: 3, sha256: "cd".repeat(32), mtimeMs: 1 };

async function storeWithListing(name: string, listing: unknown): Promise<Store> {
  const dir = path.join(root, name);
  const store = new Store(path.join(dir, "store"), path.join(dir, "tmp"));
  const layer = path.join(store.layersDir, DIGEST.slice("sha256:".length));
  await fs.mkdir(path.join(layer, "tree"), { recursive: true });
  await fs.writeFile(path.join(layer, "entries.json"), typeof listing === "string" ? listing : JSON.stringify(listing));
  return store;
}

test("a sound listing is read back as it was written", async () => {
  const listing = [{ type: "dir", path: "pkg" }, GOOD_FILE, { type: "symlink", path: "pkg/b", link: "a.py" }, { type: "whiteout", path: "old" }, { type: "opaque", path: "pkg" }];
  const store = await storeWithListing("sound", listing);
  const layer = await unpackLayer(store, DIGEST, "the layer");
  assert.deepEqual(layer.entries, listing);
});

const damaged: [string, unknown][] = [
  ["not JSON", "[{"],
  ["not a list", { entries: [] }],
  ["an entry of an unknown type", [{ type: "device", path: "dev/x" }]],
  ["a file without its hash", [{ ...GOOD_FILE, sha256: undefined }]],
  ["a file whose size is a string", [{ ...GOOD_FILE, size: "3" }]],
  ["a file whose mtime is a string", [{ ...GOOD_FILE, mtimeMs: "1" }]],
  ["a symlink without its target", [{ type: "symlink", path: "pkg/b" }]],
  ["an entry without a path", [{ type: "dir" }]],
  ["null in the list", [null]],
];

for (const [what, listing] of damaged) {
  test(`a listing with ${what} is refused as damage to the store`, async () => {
    const store = await storeWithListing(what.replace(/\W+/g, "-"), listing);
    await assert.rejects(unpackLayer(store, DIGEST, "the layer"), (error: unknown) => {
      assert.ok(error instanceof PypakrError, String(error));
      assert.equal(error.code, "store-damaged");
      assert.match(error.message, /damaged/);
      assert.match(error.hint ?? "", /store verify --repair/);
      return true;
    });
  });
}
