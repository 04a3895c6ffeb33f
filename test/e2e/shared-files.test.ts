/**
 * What a container shares with the store and what is its own (issue 10,
 * item 4). Files installed from a distribution's RECORD are linked (with the
 * default --link auto on a filesystem without reflinks, as with --link
 * hardlink): nobody edits them in place, and sharing them is what makes
 * containers cheap. App files, an editable install's sources and whatever
 * else no RECORD lists are each container's own copy, because editing them
 * is what a user does: through a hard link, an edit in place reached the
 * store and every container of the image.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { type CliOptions, expectOk, makeWheel, pypakr, sh, usePrivateHome, writeExecutable } from "../support/helpers.js";

const SITE = "lib/python3.11/site-packages";

const own = usePrivateHome();

const run = (args: string[], options: CliOptions = {}) => pypakr(args, { home: own.home, ...options });

/** The store's unpacked copies of `file` (one per layer that holds it). */
async function storeCopies(file: string): Promise<{ path: string; ino: number }[]> {
  const layers = path.join(own.home, "store", "layers", "sha256");
  const copies = [];
  for (const layer of await fs.readdir(layers)) {
    const copy = path.join(layers, layer, "tree", file);
    const stat = await fs.stat(copy).catch(() => null);
    if (stat) copies.push({ path: copy, ino: stat.ino });
  }
  return copies;
}

async function inode(file: string): Promise<number> {
  return (await fs.stat(file)).ino;
}

describe("app files are each container's own; a wheel's files are shared", () => {
  const APP = "print('app says', __import__('greeting').WORD)\n";

  before(async () => {
    const source = path.join(own.dir, "src");
    makeWheel(path.join(source, "packages"), { name: "greeting", files: { "greeting/__init__.py": "WORD = 'hello'\n" } });
    await writeExecutable(path.join(source, "setup"), "#!/bin/sh\nset -e\npip install --no-index --find-links packages greeting\n");
    await writeExecutable(path.join(source, "run"), "#!/bin/sh\nexec python app.py\n");
    await fs.writeFile(path.join(source, "app.py"), APP);
    expectOk(await run(["create-image", "-s", source, "-i", path.join(own.dir, "image.tar"), "-t", "shared:1"]), "create-image");
  });

  test("an app file edited in place in one container changes neither another container nor a new one", async () => {
    const [edited, other] = [path.join(own.dir, "edited"), path.join(own.dir, "other")];
    for (const container of [edited, other]) expectOk(await run(["create-container", "-i", "shared:1", "-c", container]), "create-container");
    // In place, as `>>`, many editors and a user's script do: the same inode, new bytes.
    await fs.appendFile(path.join(edited, "app.py"), "print('edited here')\n");
    assert.match(expectOk(await run(["run", "-c", edited]), "run edited").stdout, /edited here/);
    assert.equal(await fs.readFile(path.join(other, "app.py"), "utf8"), APP, "the edit reached another container");
    const fresh = path.join(own.dir, "fresh");
    expectOk(await run(["create-container", "-i", "shared:1", "-c", fresh]), "create-container after the edit");
    assert.equal(await fs.readFile(path.join(fresh, "app.py"), "utf8"), APP, "the edit reached a new container");
    assert.equal(expectOk(await run(["run", "-c", fresh]), "run fresh").stdout, "app says hello\n");
    // The store's unpacked app layer was never touched, so there is nothing to repair.
    expectOk(await run(["store", "verify"]), "store verify after the edit");
  });

  for (const link of ["auto", "hardlink"]) {
    test(`with --link ${link}, a wheel's files share the store's inode and app files do not`, async () => {
      const container = path.join(own.dir, `link-${link}`);
      const created = JSON.parse(expectOk(await run(["create-container", "-i", "shared:1", "-c", container, "--link", link, "--json"]), "create-container").stdout) as { link: string };
      // This test runs where the filesystem has no reflinks (ext4, tmpfs): auto settles on hard links.
      assert.equal(created.link, "hardlink");
      const module = `${SITE}/greeting/__init__.py`;
      const moduleCopies = await storeCopies(module);
      assert.equal(moduleCopies.length, 1);
      assert.equal(await inode(path.join(container, module)), moduleCopies[0]?.ino, "a wheel's file is not the store's copy");
      const appCopies = await storeCopies("app.py");
      assert.equal(appCopies.length, 1);
      assert.notEqual(await inode(path.join(container, "app.py")), appCopies[0]?.ino, "an app file shares the store's inode");
      assert.equal((await fs.stat(path.join(container, "app.py"))).nlink, 1);
      assert.equal(await fs.readFile(path.join(container, "app.py"), "utf8"), APP);
      expectOk(await run(["verify", "-c", container]), "verify -c");
    });
  }
});

// Not hermetic: pip builds the setuptools project in an isolated env, fetching setuptools and wheel from the
// configured package index (PyPI or a mirror), as the Flask walkthrough test fetches Flask.
test("an editable install's sources are each container's own copy (package index)", { timeout: 600_000 }, async () => {
  const source = path.join(own.dir, "editable-src");
  await fs.mkdir(path.join(source, "mylib", "src", "mylib"), { recursive: true });
  await fs.writeFile(
    path.join(source, "mylib", "pyproject.toml"),
    '[build-system]\nrequires = ["setuptools>=64", "wheel"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "mylib"\nversion = "1.0"\n',
  );
  await fs.writeFile(path.join(source, "mylib", "src", "mylib", "__init__.py"), "WORD = 'original'\n");
  await writeExecutable(path.join(source, "setup"), "#!/bin/sh\nset -e\npip install -e ./mylib\n");
  expectOk(await run(["create-image", "-s", source, "-i", path.join(own.dir, "editable.tar"), "-t", "editable:1"], { timeoutMs: 540_000 }), "create-image");
  const [edited, other] = [path.join(own.dir, "editable-a"), path.join(own.dir, "editable-b")];
  for (const container of [edited, other]) expectOk(await run(["create-container", "-i", "editable:1", "-c", container]), "create-container");
  const module = "mylib/src/mylib/__init__.py";
  const word = (container: string) => sh(`'${container}/bin/python' -c 'import mylib; print(mylib.__file__, mylib.WORD)'`, { cwd: "/" });
  assert.equal(word(edited).stdout.trim(), `${path.join(edited, module)} original`, "the editable install imports from the container's own sources");
  assert.equal((await fs.stat(path.join(edited, module))).nlink, 1);
  const [stored] = await storeCopies(module);
  assert.ok(stored, "the app layer holds the sources");
  assert.notEqual(await inode(path.join(edited, module)), stored.ino);
  await fs.appendFile(path.join(edited, module), "WORD = 'edited'\n");
  assert.equal(word(edited).stdout.trim(), `${path.join(edited, module)} edited`);
  assert.equal(word(other).stdout.trim(), `${path.join(other, module)} original`, "the edit reached another container");
});
