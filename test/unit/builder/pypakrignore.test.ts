/**
 * .pypakrignore's rules (src/builder/pypakrignore.ts): the defaults, a file's
 * own lines read after them, venvs found by their pyvenv.cfg, and matching
 * as git does (case-sensitive on Linux).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { SourceRules } from "../../../src/builder/pypakrignore.js";
import { PypakrError } from "../../../src/util/errors.js";

let dir: string;
before(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), "pypakrignore-"))));
after(() => fs.rm(dir, { recursive: true, force: true }));

async function rules(text: string | null): Promise<SourceRules> {
  const root = await fs.mkdtemp(path.join(dir, "src-"));
  if (text !== null) await fs.writeFile(path.join(root, ".pypakrignore"), text);
  return SourceRules.load(root, "source test");
}

const file = { dir: false };
const folder = { dir: true };

describe("SourceRules", () => {
  test("the defaults leave out what is not the app, at any depth, and keep look-alikes", async () => {
    const defaults = await rules(null);
    assert.equal(defaults.hasFile, false);
    for (const [name, kind] of [
      [".git", folder],
      [".git", file], // a worktree's or submodule's .git file
      ["sub/.git", folder],
      ["pkg/__pycache__", folder],
      ["a/b.pyc", file],
      ["build", folder],
      ["lib2/build", folder],
      ["dist", folder],
      ["x.egg-info", folder],
      ["src/y.egg-info", folder],
      [".mypy_cache", folder],
      [".pytest_cache", folder],
      [".ruff_cache", folder],
      [".tox", folder],
      [".nox", folder],
      [".pypakrignore", file],
    ] as const) {
      assert.equal(defaults.leavesOut(name, kind), true, `${name} is kept`);
    }
    for (const [name, kind] of [
      ["build", file],
      ["Build", folder],
      ["docs/dist.md", file],
      ["sub/.pypakrignore", file],
      ["app.py", file],
      [".venv", folder], // only with its pyvenv.cfg
    ] as const) {
      assert.equal(defaults.leavesOut(name, kind), false, `${name} is left out`);
    }
  });

  test("a directory holding pyvenv.cfg is left out whatever its name, unless a ! line names it", async () => {
    assert.equal((await rules(null)).leavesOut("tools/my env", { dir: true, venv: true }), true);
    const back = await rules("!.venv/\n");
    assert.equal(back.leavesOut(".venv", { dir: true, venv: true }), false);
    assert.equal(back.leavesOut("env", { dir: true, venv: true }), true);
  });

  test("the file's lines come after the defaults: they add patterns and take defaults back", async () => {
    const own = await rules("# comment\nsecrets/\n*.log\n!dist/\n!/.pypakrignore\n");
    assert.equal(own.hasFile, true);
    assert.equal(own.leavesOut("secrets", folder), true);
    assert.equal(own.leavesOut("a/debug.log", file), true);
    assert.equal(own.leavesOut("dist", folder), false);
    assert.equal(own.leavesOut(".pypakrignore", file), false);
    assert.equal(own.leavesOut("build", folder), true);
  });

  test("topmostLeftOut names each left-out subtree once, venvs found by their marker", async () => {
    const defaults = await rules(null);
    const entries = [
      { path: "app.py", dir: false },
      { path: "build", dir: true },
      { path: "build/lib", dir: true },
      { path: "build/lib/x.py", dir: false },
      { path: "env", dir: true },
      { path: "env/pyvenv.cfg", dir: false },
      { path: "env/bin", dir: true },
      { path: "src", dir: true },
      { path: "src/y.egg-info", dir: true },
      { path: "src/y.egg-info/PKG-INFO", dir: false },
      { path: "src/y", dir: true },
      { path: "src/y/__init__.py", dir: false },
    ];
    assert.deepEqual(defaults.topmostLeftOut(entries), ["build", "env", "src/y.egg-info"]);
  });

  test("an ignore file that is not a regular file is refused with a hint", async () => {
    const root = await fs.mkdtemp(path.join(dir, "src-"));
    await fs.mkdir(path.join(root, ".pypakrignore"));
    await assert.rejects(SourceRules.load(root, "source test"), (error: unknown) => error instanceof PypakrError && /not a regular file/.test(error.message) && Boolean(error.hint));
  });
});
