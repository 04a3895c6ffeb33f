/**
 * The differ (src/builder/diff.ts): a work env compared with the base it was
 * copied from. Added and changed entries become changes, a deleted subtree
 * one whiteout, and what no image may hold (a link out, a whiteout or
 * .pypakr name, a special file) is refused as build-not-packable.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Base } from "../../../src/base/base.js";
import { scanTree } from "../../../src/base/manifest.js";
import { diffWorkEnv, type Change } from "../../../src/builder/diff.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

let root = "";
let cases = 0;
before(async () => {
  root = await makeTempDir();
});
after(() => removeDir(root));

/**
 * A base dir holding a small venv-like tree (one file naming the base's own
 * path), scanned as `pypakr init` records a base, and a work env copied from
 * it as create-image makes one; the work file names the work env's path.
 */
async function baseAndWorkEnv(): Promise<{ base: Base; work: string }> {
  cases += 1;
  const dir = path.join(root, `case-${cases}`);
  const baseDir = path.join(dir, "base");
  const work = path.join(dir, "work");
  const files: Record<string, string> = {
    "lib/site-packages/keep.py": "kept\n",
    "lib/site-packages/exec.py": "runnable\n",
    "lib/site-packages/old/a.py": "a\n",
    "lib/site-packages/old/sub/b.py": "b\n",
    "lib/site-packages/gone.py": "gone\n",
    "lib/site-packages/__pycache__/gone.cpython-311.pyc": "bytecode",
    "pyvenv.cfg": "home = /usr/bin\n",
  };
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(baseDir, name)), { recursive: true });
    await fs.writeFile(path.join(baseDir, name), content);
  }
  await fs.mkdir(path.join(baseDir, "bin"));
  await fs.writeFile(path.join(baseDir, "bin/activate"), `VIRTUAL_ENV=${baseDir}\n`);
  await fs.chmod(path.join(baseDir, "lib/site-packages/exec.py"), 0o755);
  await fs.symlink("keep.py", path.join(baseDir, "lib/site-packages/link.py"));
  // diffWorkEnv reads only the base's entries, as scanned.
  const base = { entries: await scanTree(baseDir) } as unknown as Base;
  execFileSync("cp", ["-a", baseDir, work]);
  await fs.writeFile(path.join(work, "bin/activate"), `VIRTUAL_ENV=${work}\n`);
  return { base, work };
}

const sorted = (changes: Change[]) => [...changes].sort((a, b) => a.path.localeCompare(b.path));

function notPackable(message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${String(error)}`);
    assert.equal(error.code, "build-not-packable");
    assert.match(error.message, message);
    assert.ok(error.hint);
    return true;
  };
}

describe("diffWorkEnv", () => {
  test("an untouched work env has no changes, its relocated file (naming its own path) included", async () => {
    const { base, work } = await baseAndWorkEnv();
    const diff = await diffWorkEnv(work, base);
    assert.deepEqual(diff.changes, []);
    assert.deepEqual([...diff.relocated], ["bin/activate"]);
  });

  test("added, rewritten and newly executable files are changes; a non-executable mode change is not", async () => {
    const { base, work } = await baseAndWorkEnv();
    const site = path.join(work, "lib/site-packages");
    await fs.mkdir(path.join(site, "new"));
    await fs.writeFile(path.join(site, "new/mod.py"), "new module\n");
    await fs.writeFile(path.join(site, "keep.py"), "rewritten\n");
    await fs.chmod(path.join(site, "gone.py"), 0o755);
    await fs.chmod(path.join(site, "old/a.py"), 0o600);
    const diff = await diffWorkEnv(work, base);
    assert.deepEqual(sorted(diff.changes), [
      { type: "file", path: "lib/site-packages/gone.py", executable: true, size: 5 },
      { type: "file", path: "lib/site-packages/keep.py", executable: false, size: 10 },
      { type: "dir", path: "lib/site-packages/new" },
      { type: "file", path: "lib/site-packages/new/mod.py", executable: false, size: 11 },
    ]);
  });

  test("a deleted file is a whiteout; a deleted directory is one whiteout for the whole subtree; deleted bytecode is none", async () => {
    const { base, work } = await baseAndWorkEnv();
    const site = path.join(work, "lib/site-packages");
    await fs.rm(path.join(site, "gone.py"));
    await fs.rm(path.join(site, "old"), { recursive: true });
    await fs.rm(path.join(site, "__pycache__"), { recursive: true });
    const diff = await diffWorkEnv(work, base);
    assert.deepEqual(sorted(diff.changes), [
      { type: "whiteout", path: "lib/site-packages/gone.py" },
      { type: "whiteout", path: "lib/site-packages/old" },
    ]);
  });

  test("a file replacing a directory is the new file, and nothing below it is whited out", async () => {
    const { base, work } = await baseAndWorkEnv();
    const old = path.join(work, "lib/site-packages/old");
    await fs.rm(old, { recursive: true });
    await fs.writeFile(old, "now a file\n");
    const diff = await diffWorkEnv(work, base);
    assert.deepEqual(diff.changes, [{ type: "file", path: "lib/site-packages/old", executable: false, size: 11 }]);
  });

  test("bytecode the build wrote is left out", async () => {
    const { base, work } = await baseAndWorkEnv();
    await fs.mkdir(path.join(work, "app/__pycache__"), { recursive: true });
    await fs.writeFile(path.join(work, "app/__pycache__/m.cpython-311.pyc"), "new bytecode");
    const diff = await diffWorkEnv(work, base);
    assert.deepEqual(diff.changes, [{ type: "dir", path: "app" }]);
  });

  test("symlinks: a changed target is a change; an absolute one into the env is made relative", async () => {
    const { base, work } = await baseAndWorkEnv();
    const site = path.join(work, "lib/site-packages");
    await fs.rm(path.join(site, "link.py"));
    await fs.symlink("exec.py", path.join(site, "link.py"));
    await fs.symlink(path.join(work, "lib/site-packages/keep.py"), path.join(work, "bin/keep"));
    const diff = await diffWorkEnv(work, base);
    assert.deepEqual(sorted(diff.changes), [
      { type: "symlink", path: "bin/keep", link: "../lib/site-packages/keep.py" },
      { type: "symlink", path: "lib/site-packages/link.py", link: "exec.py" },
    ]);
  });

  test("a symlink out of the env, absolute or by .., is refused", async () => {
    for (const link of ["/etc/passwd", "../../../outside"]) {
      const { base, work } = await baseAndWorkEnv();
      await fs.symlink(link, path.join(work, "lib/site-packages/escape"));
      await assert.rejects(diffWorkEnv(work, base), notPackable(/lib\/site-packages\/escape a symlink to .*, outside the environment/));
    }
  });

  test("names no image may hold are refused: a whiteout name, .pypakr below the top, a special file", async () => {
    const whiteout = await baseAndWorkEnv();
    await fs.writeFile(path.join(whiteout.work, "lib/site-packages/.wh.x"), "");
    await assert.rejects(diffWorkEnv(whiteout.work, whiteout.base), notPackable(/"\.wh\.x" \(an OCI whiteout name\)/));

    const metadata = await baseAndWorkEnv();
    await fs.mkdir(path.join(metadata.work, "lib/.pypakr"));
    await assert.rejects(diffWorkEnv(metadata.work, metadata.base), notPackable(/"\.pypakr" \(pypakr's own name\)/));

    const fifo = await baseAndWorkEnv();
    execFileSync("mkfifo", [path.join(fifo.work, "lib/pipe")]);
    await assert.rejects(diffWorkEnv(fifo.work, fifo.base), notPackable(/lib\/pipe, which is not a regular file/));
  });
});
