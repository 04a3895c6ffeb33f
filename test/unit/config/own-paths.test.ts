/** Which paths pypakr refuses to replace or write at a user's word: its own directories, what holds them, $HOME and /, seen through symlinks. */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Config } from "../../../src/config/config.js";
import { ownPathProblem, realPathOf } from "../../../src/config/own-paths.js";

describe("ownPathProblem", () => {
  let dir: string;
  let config: Config;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-own-paths-")));
    const pypakrDir = path.join(dir, "data", "pypakr");
    // The bases elsewhere, as `base = ...` in ~/.pypakr may put them.
    config = { file: null, pypakrDir, basesDir: path.join(dir, "bases"), python: "python3" } as Config;
    env = { HOME: path.join(dir, "home") };
    for (const sub of ["store/blobs/sha256", "store/layers/sha256", "tmp", "containers"]) await fs.mkdir(path.join(pypakrDir, sub), { recursive: true });
    await fs.mkdir(config.basesDir);
    await fs.mkdir(path.join(dir, "home", "projects"), { recursive: true });
    await fs.symlink(path.join(pypakrDir, "store"), path.join(dir, "home", "store-link"));
    await fs.symlink(dir, path.join(dir, "home", "up"));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  const problem = (target: string) => ownPathProblem(config, target, env);

  test("pypakr's own directories and what is in its store, bases and tmp", async () => {
    const { pypakrDir, basesDir } = config;
    assert.match((await problem(pypakrDir)) ?? "", /^is pypakr's directory \(pypakrdir\)/);
    assert.match((await problem(path.join(pypakrDir, "store"))) ?? "", /^is pypakr's store/);
    assert.match((await problem(path.join(pypakrDir, "store", "blobs"))) ?? "", /^is inside pypakr's store/);
    assert.match((await problem(path.join(pypakrDir, "store", "layers", "sha256", "not-yet-there", "deeper"))) ?? "", /^is inside pypakr's store/);
    assert.match((await problem(path.join(pypakrDir, "store", "index.json"))) ?? "", /^is inside pypakr's store/);
    assert.match((await problem(basesDir)) ?? "", /^is pypakr's bases directory/);
    assert.match((await problem(path.join(basesDir, "cpython-3.11-linux-x86_64"))) ?? "", /^is inside pypakr's bases directory/);
    assert.match((await problem(path.join(pypakrDir, "tmp", "x"))) ?? "", /^is inside pypakr's temporary directory/);
  });

  test("what holds them, $HOME and /", async () => {
    assert.match((await problem(path.join(dir, "data"))) ?? "", /^holds pypakr's directory/);
    assert.match((await problem(dir)) ?? "", /^holds pypakr's directory/);
    assert.match((await problem(path.join(dir, "home"))) ?? "", /^is your home directory/);
    assert.match((await problem("/")) ?? "", /^is the root directory/);
  });

  test("symlinks and .. are resolved as the kernel will", async () => {
    assert.match((await problem(path.join(dir, "home", "store-link"))) ?? "", /^is pypakr's store/);
    assert.match((await problem(path.join(dir, "home", "store-link", "blobs", "sha256"))) ?? "", /^is inside pypakr's store/);
    assert.match((await problem(path.join(dir, "home", "up"))) ?? "", /^holds pypakr's directory/);
    assert.equal(await realPathOf(path.join(dir, "home", "store-link", "new", "path")), path.join(config.pypakrDir, "store", "new", "path"));
  });

  test("a user's own paths, pypakr's containers/ and new paths beside pypakr's are fine", async () => {
    for (const target of [path.join(dir, "home", "projects"), path.join(dir, "home", "projects", "app"), path.join(config.pypakrDir, "containers", "app-0123"), path.join(config.pypakrDir, "mine"), path.join(dir, "data", "pypakr-other"), path.join(dir, "storex")]) {
      assert.equal(await problem(target), null, target);
    }
  });
});
