/**
 * The source stager (src/builder/source.ts): what a source directory or tar
 * puts into a build, what .pypakrignore leaves out, and what is refused
 * before any work env exists (links out of the source, whiteout names,
 * special files, names the venv itself has).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { placeSource, readSource } from "../../../src/builder/source.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";
import { tarOf } from "../../support/tar.js";

let root = "";
let cases = 0;
before(async () => {
  root = await makeTempDir();
});
after(() => removeDir(root));

/** A fresh case dir holding `source/` with `files` (path -> content; a trailing "/" makes a directory), and an empty `scratch/`. */
async function sourceCase(files: Record<string, string>): Promise<{ dir: string; source: string; scratch: string }> {
  cases += 1;
  const dir = path.join(root, `case-${cases}`);
  const source = path.join(dir, "source");
  const scratch = path.join(dir, "scratch");
  await fs.mkdir(source, { recursive: true });
  await fs.mkdir(scratch);
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(source, name);
    if (name.endsWith("/")) {
      await fs.mkdir(file, { recursive: true });
      continue;
    }
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
  return { dir, source, scratch };
}

/** Asserts a PypakrError with `code` whose message matches `message`. */
function refusal(code: string, message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    assert.ok(error.hint, "a refusal says what to do");
    return true;
  };
}

describe("readSource", () => {
  test("lists a directory's files (executable or not), dirs before what they hold, and links inside it", async () => {
    const { source, scratch } = await sourceCase({ "app/main.py": "print(1)", "app/data/": "", "requirements.txt": "" });
    await fs.writeFile(path.join(source, "setup"), "#!/bin/sh\n", { mode: 0o755 });
    await fs.symlink("app/main.py", path.join(source, "main.py"));
    const tree = await readSource(source, scratch);
    assert.equal(tree.root, source);
    assert.equal(tree.unpacked, false);
    assert.deepEqual(tree.entries, [
      { path: "app", type: "dir" },
      { path: "app/data", type: "dir" },
      { path: "app/main.py", type: "file", executable: false },
      { path: "main.py", type: "symlink", link: "app/main.py" },
      { path: "requirements.txt", type: "file", executable: false },
      { path: "setup", type: "file", executable: true },
    ]);
    assert.deepEqual(tree.leftOut, []);
  });

  test(".pypakrignore's defaults leave out .git, caches and any venv (found by pyvenv.cfg); its own lines and ! take effect", async () => {
    const { source, scratch } = await sourceCase({
      "app.py": "",
      ".git/HEAD": "",
      "pkg/__pycache__/m.cpython-311.pyc": "",
      "myenv/pyvenv.cfg": "home = /usr/bin",
      "myenv/bin/python": "",
      "secret.txt": "",
      "dist/keep.whl": "",
      ".pypakrignore": "secret.txt\n!dist/\n",
    });
    const tree = await readSource(source, scratch);
    assert.deepEqual(
      tree.entries.map((entry) => entry.path),
      ["app.py", "dist", "dist/keep.whl", "pkg"],
    );
    assert.deepEqual([...tree.leftOut].sort(), [".git", ".pypakrignore", "myenv", "pkg/__pycache__", "secret.txt"]);
  });

  test("a symlink out of the source, absolute or by .., is refused naming it", async () => {
    for (const link of ["/etc/passwd", "../outside", "sub/../../outside"]) {
      const { source, scratch } = await sourceCase({ "app.py": "", "sub/": "" });
      await fs.symlink(link, path.join(source, "escape"));
      await assert.rejects(readSource(source, scratch), refusal("source-invalid", new RegExp(`"escape" -> "${link.replace(/[.]/g, "\\.")}", which points outside the source`)));
    }
  });

  test("a file named like a whiteout is refused; so is a special file", async () => {
    const whiteout = await sourceCase({ "app.py": "", "pkg/.wh.gone": "" });
    await assert.rejects(readSource(whiteout.source, whiteout.scratch), refusal("source-invalid", /"pkg\/\.wh\.gone", named like an OCI whiteout/));
    const fifo = await sourceCase({ "app.py": "" });
    execFileSync("mkfifo", [path.join(fifo.source, "pipe")]);
    await assert.rejects(readSource(fifo.source, fifo.scratch), refusal("source-invalid", /"pipe", which is not a regular file, directory or symlink/));
  });

  test("what .pypakrignore leaves out is not checked: a link out inside a left-out venv is no problem", async () => {
    const { source, scratch } = await sourceCase({ "app.py": "", ".venv/pyvenv.cfg": "" });
    await fs.symlink("/usr/bin/python3", path.join(source, ".venv", "python"));
    const tree = await readSource(source, scratch);
    assert.deepEqual(tree.leftOut, [".venv"]);
  });

  test("a source with nothing left to build says what left its files out", async () => {
    const empty = await sourceCase({ "only/": "" });
    await assert.rejects(readSource(empty.source, empty.scratch), refusal("source-invalid", /holds no files, so there is nothing to build/));
    const ignored = await sourceCase({ "build/x.py": "" });
    await assert.rejects(readSource(ignored.source, ignored.scratch), refusal("source-invalid", /holds no files once \.pypakrignore's defaults leave out/));
  });

  test("a missing source, and one that is neither a file nor a directory, are refused", async () => {
    const { dir, scratch } = await sourceCase({});
    await assert.rejects(readSource(path.join(dir, "nope"), scratch), refusal("source-invalid", /does not exist/));
    execFileSync("mkfifo", [path.join(dir, "pipe")]);
    await assert.rejects(readSource(path.join(dir, "pipe"), scratch), refusal("source-invalid", /is neither a directory nor a file/));
  });

  test("a tar is unpacked into scratch, and a single top directory is its root", async () => {
    const { dir, scratch } = await sourceCase({});
    const archive = path.join(dir, "app.tar.gz");
    await fs.writeFile(archive, tarOf([{ name: "app/", type: "directory" }, { name: "app/run.py", body: "print(2)" }, { name: "app/setup", body: "#!/bin/sh\n", mode: 0o755 }], { gzip: true }));
    const tree = await readSource(archive, scratch);
    assert.equal(tree.root, path.join(scratch, "app"));
    assert.equal(tree.unpacked, true);
    assert.deepEqual(tree.entries, [
      { path: "run.py", type: "file", executable: false },
      { path: "setup", type: "file", executable: true },
    ]);
  });

  test("a tar holding a link out is refused with a hint to leave venvs out of the tar", async () => {
    const { dir, scratch } = await sourceCase({});
    const archive = path.join(dir, "app.tar");
    await fs.writeFile(archive, tarOf([{ name: "app.py", body: "" }, { name: ".venv/bin/python", type: "symlink", linkname: "/usr/bin/python3" }]));
    await assert.rejects(readSource(archive, scratch), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.equal(error.code, "link-leaves-tree");
      assert.match(error.hint ?? "", /--exclude=\.venv/);
      return true;
    });
  });

  test("a tar holding a whiteout is refused", async () => {
    const { dir, scratch } = await sourceCase({});
    const archive = path.join(dir, "app.tar");
    await fs.writeFile(archive, tarOf([{ name: "app.py", body: "" }, { name: ".wh.app.py" }]));
    await assert.rejects(readSource(archive, scratch), PypakrError);
  });
});

describe("placeSource", () => {
  async function workEnv(dir: string): Promise<string> {
    const env = path.join(dir, "env");
    await fs.mkdir(path.join(env, "bin"), { recursive: true });
    await fs.writeFile(path.join(env, "pyvenv.cfg"), "");
    return env;
  }

  test("copies a directory source's files into the work env (the source stays), with 0755/0644 modes, and reports setup", async () => {
    const { dir, source, scratch } = await sourceCase({ "app/main.py": "print(1)", "requirements.txt": "flask\n" });
    await fs.writeFile(path.join(source, "setup"), "#!/bin/sh\n", { mode: 0o700 });
    await fs.symlink("app/main.py", path.join(source, "main.py"));
    const env = await workEnv(dir);
    const files = await placeSource(await readSource(source, scratch), env);
    assert.deepEqual(files, { setup: "executable", run: false, requirements: true, pyproject: false });
    assert.equal(await fs.readFile(path.join(env, "app/main.py"), "utf8"), "print(1)");
    assert.equal((await fs.stat(path.join(env, "setup"))).mode & 0o777, 0o755);
    assert.equal((await fs.stat(path.join(env, "requirements.txt"))).mode & 0o777, 0o644);
    assert.equal(await fs.readlink(path.join(env, "main.py")), "app/main.py");
    assert.equal(await fs.readFile(path.join(source, "app/main.py"), "utf8"), "print(1)", "the user's source is only copied");
  });

  test("a setup that is not executable is reported as such", async () => {
    const { dir, source, scratch } = await sourceCase({ setup: "pip install x\n" });
    const files = await placeSource(await readSource(source, scratch), await workEnv(dir));
    assert.equal(files.setup, "not-executable");
  });

  test("a top-level name the venv has (bin, pyvenv.cfg) or .pypakr is refused before anything is placed", async () => {
    for (const name of ["bin/", "pyvenv.cfg", ".pypakr/"]) {
      const { dir, source, scratch } = await sourceCase({ "app.py": "", [name]: "", ...(name.endsWith("/") ? { [`${name}x`]: "" } : {}) });
      const env = await workEnv(dir);
      const tree = await readSource(source, scratch);
      await assert.rejects(placeSource(tree, env), refusal("source-invalid", new RegExp(`holds "${name.replace(/\/$/, "").replace(/[.]/g, "\\.")}" at its top level`)));
      assert.deepEqual((await fs.readdir(env)).sort(), ["bin", "pyvenv.cfg"], "nothing was placed");
    }
  });
});
