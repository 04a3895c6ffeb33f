/**
 * `create-container --force` replaces an old container, and nothing else.
 * It once deleted a directory of user files without a word, deleted the
 * store and the bases when pointed at pypakrdir, and damaged every image when
 * pointed at store/blobs. Each variation here must fail with a message that
 * names the problem and the fix, and leave the directory exactly as it was
 * (every path, every file's bytes, every link's target).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { expectCleanFailure, expectOk, makeTempDir, privateHome, pypakr, removeDir, writeExecutable, type CliOptions } from "../support/helpers.js";

/** Every path under `dir` with what it holds: a file's sha256, a link's target, or "dir". */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (current: string, prefix: string): Promise<void> => {
    for (const name of (await fs.readdir(current)).sort()) {
      const file = path.join(current, name);
      const relative = prefix ? `${prefix}/${name}` : name;
      const stat = await fs.lstat(file);
      if (stat.isDirectory()) {
        out.set(relative, `dir ${stat.mode.toString(8)}`);
        await walk(file, relative);
      } else if (stat.isSymbolicLink()) {
        out.set(relative, `link ${await fs.readlink(file)}`);
      } else {
        out.set(relative, `file ${stat.mode.toString(8)} ${createHash("sha256").update(await fs.readFile(file)).digest("hex")}`);
      }
    }
  };
  await walk(dir, "");
  return out;
}

describe("create-container --force replaces only a container or an empty directory", () => {
  let dir: string;
  let home: string;
  let image: string;
  let fakeHome: string;
  let options: CliOptions;

  before(async () => {
    dir = await makeTempDir();
    home = await privateHome(dir);
    // HOME is the test's own, so that "your home directory" can be put at risk safely.
    fakeHome = path.join(dir, "user-home");
    await fs.mkdir(fakeHome);
    await fs.writeFile(path.join(fakeHome, ".profile"), "# mine\n");
    options = { home, env: { HOME: fakeHome } };
    const source = path.join(dir, "src");
    await writeExecutable(path.join(source, "run"), "#!/bin/sh\necho hello from the image\n");
    image = path.join(dir, "image.tar");
    expectOk(await pypakr(["create-image", "-s", source, "-i", image, "-t", "app:1"], options), "create-image");
    // A container, so the store has unpacked layers as well as blobs.
    expectOk(await pypakr(["create-container", "-i", "app:1", "-c", path.join(dir, "first")], options), "create-container");
  });
  after(() => removeDir(dir));

  /** Runs create-container --force at `target`; it must fail with `message` and leave `watched` exactly as it was. */
  async function refusedAndUntouched(target: string, watched: string, message: RegExp, force = true): Promise<string> {
    const before = await snapshot(watched);
    const result = await pypakr(["create-container", "-i", "app:1", "-c", target, ...(force ? ["--force"] : [])], options);
    expectCleanFailure(result, message);
    assert.deepEqual(await snapshot(watched), before, `${target} changed`);
    return result.stderr;
  }

  test("a directory of user files: refused with and without --force, every file kept", async () => {
    const mine = path.join(dir, "mine");
    await fs.mkdir(path.join(mine, "sub"), { recursive: true });
    await fs.writeFile(path.join(mine, "thesis.txt"), "years of work\n");
    await fs.writeFile(path.join(mine, "sub", "data.csv"), "1,2,3\n");
    await fs.symlink("thesis.txt", path.join(mine, "link"));
    for (const force of [true, false]) {
      const stderr = await refusedAndUntouched(mine, mine, /exists, is not empty, and is not a pypakr container \(it has no \.pypakr\/container\.json\)/, force);
      assert.match(stderr, /hint: .*Choose another path, or move the files out of/);
      if (force) assert.match(stderr, /--force replaces only a pypakr container or an empty directory/);
    }
    // A .pypakr directory alone, or a link to another container's, does not make one.
    await fs.mkdir(path.join(mine, ".pypakr"));
    await refusedAndUntouched(mine, mine, /is not a pypakr container/);
    await fs.rmdir(path.join(mine, ".pypakr"));
    await fs.symlink(path.join(dir, "first", ".pypakr"), path.join(mine, ".pypakr"));
    await refusedAndUntouched(mine, mine, /is not a pypakr container/);
  });

  test("pypakr's own directories, and what is in them, are never replaced", async () => {
    const cases: [string, RegExp][] = [
      [home, /it is pypakr's directory \(pypakrdir\)/],
      [path.join(home, "store"), /it is pypakr's store/],
      [path.join(home, "store", "blobs"), /it is inside pypakr's store/],
      [path.join(home, "store", "blobs", "sha256"), /it is inside pypakr's store/],
      [path.join(home, "store", "layers", "sha256"), /it is inside pypakr's store/],
      [path.join(home, "store", "layers", "sha256", "new-container"), /it is inside pypakr's store/],
      [path.join(home, "bases"), /it is pypakr's bases directory/],
      [path.join(home, "tmp"), /it is pypakr's temporary directory/],
    ];
    for (const [target, message] of cases) {
      const stderr = await refusedAndUntouched(target, home, message);
      assert.match(stderr, /which pypakr never replaces or writes into, even with --force/);
      assert.match(stderr, /hint: Choose a container path of your own/);
    }
    // The bases are shared with the machine's test home through a link: the real directory must be untouched too.
    const bases = await fs.realpath(path.join(home, "bases"));
    await refusedAndUntouched(path.join(home, "bases"), bases, /pypakr's bases directory/);
    expectOk(await pypakr(["store", "verify"], options), "store verify after the refusals");
  });

  test("what holds pypakr's directory, $HOME and / are never replaced", async () => {
    await refusedAndUntouched(dir, home, /it holds pypakr's directory \(pypakrdir\)/);
    await refusedAndUntouched(path.dirname(dir), home, /it holds pypakr's directory/);
    await refusedAndUntouched(fakeHome, fakeHome, /it is your home directory/);
    const rootBefore = (await fs.readdir("/")).sort();
    const result = await pypakr(["create-container", "-i", "app:1", "-c", "/", "--force"], options);
    expectCleanFailure(result, /it is the root directory/);
    assert.deepEqual((await fs.readdir("/")).sort(), rootBefore);
  });

  test("a symlink to the store, or a path through one, is seen for what it is", async () => {
    const link = path.join(dir, "innocent-looking");
    await fs.symlink(path.join(home, "store"), link);
    await refusedAndUntouched(link, home, /it is pypakr's store/);
    await refusedAndUntouched(path.join(link, "blobs"), home, /it is inside pypakr's store/);
    const above = path.join(dir, "above");
    await fs.symlink(dir, above);
    await refusedAndUntouched(above, home, /it holds pypakr's directory/);
    expectOk(await pypakr(["store", "verify"], options), "store verify");
  });

  test("--force still replaces a container, and fills an empty directory", async () => {
    const container = path.join(dir, "replace-me");
    expectOk(await pypakr(["create-container", "-i", "app:1", "-c", container], options), "create-container");
    const refused = await pypakr(["create-container", "-i", "app:1", "-c", container], options);
    expectCleanFailure(refused, /exists and is not empty \(it holds a pypakr container\)/);
    assert.match(refused.stderr, /pass --force to replace that container/);
    await fs.writeFile(path.join(container, "stale.txt"), "left by the old one\n");
    expectOk(await pypakr(["create-container", "-i", "app:1", "-c", container, "--force"], options), "create-container --force over a container");
    await assert.rejects(fs.lstat(path.join(container, "stale.txt")));
    assert.equal(expectOk(await pypakr(["run", "-c", container], options), "run").stdout, "hello from the image\n");

    const empty = path.join(dir, "empty");
    await fs.mkdir(empty);
    expectOk(await pypakr(["create-container", "-i", "app:1", "-c", empty, "--force"], options), "create-container --force into an empty directory");
    assert.equal(expectOk(await pypakr(["run", "-c", empty], options), "run").stdout, "hello from the image\n");
  });

  test("image files are never written over the store's own files (create-image -i, save -o, pull -o)", async () => {
    const index = path.join(home, "store", "index.json");
    const blobs = path.join(home, "store", "blobs", "sha256");
    const blob = path.join(blobs, (await fs.readdir(blobs))[0] ?? "");
    const before = await snapshot(home);
    const attempts: [string[], RegExp][] = [
      [["save", "app:1", "-o", index], /cannot write .*index\.json: it is inside pypakr's store/],
      [["save", "app:1", "-o", blob], /cannot write .*: it is inside pypakr's store/],
      [["create-image", "-s", path.join(dir, "src"), "-i", blob], /cannot write .*: it is inside pypakr's store/],
      [["create-image", "-s", path.join(dir, "src"), "-i", path.join(home, "bases", "x.tar")], /it is inside pypakr's bases directory/],
      // Refused before any connection is tried: nothing listens on port 9.
      [["pull", "127.0.0.1:9/app:1", "-o", index], /cannot write .*index\.json: it is inside pypakr's store/],
    ];
    for (const [args, message] of attempts) {
      const result = await pypakr(args, options);
      expectCleanFailure(result, message);
      assert.match(result.stderr, /hint: Write the image file elsewhere/);
    }
    assert.deepEqual(await snapshot(home), before);
    expectOk(await pypakr(["store", "verify"], options), "store verify");
  });
});
