/**
 * A project folder used as it is as a source (issue 10, item 5):
 * .pypakrignore (gitignore syntax) with defaults that leave out what is not
 * the app (git history, virtual environments, bytecode, build output, tool
 * caches), what `pip install .` leaves in the folder, hints that name the
 * ignore file, and an empty source refused before anything is made.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { type CliOptions, expectCleanFailure, expectOk, listTree, makeWheel, pypakr, sh, usePrivateHome, writeExecutable } from "../support/helpers.js";
import { layerEntryNames } from "../support/image-files.js";

const own = usePrivateHome();

const run = (args: string[], options: CliOptions = {}) => pypakr(args, { home: own.home, ...options });

async function write(root: string, files: Record<string, string>): Promise<void> {
  for (const [file, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await fs.writeFile(path.join(root, file), content);
  }
}

function tarWithout(source: string, tarFile: string, excluded: string[]): string {
  const result = sh(`tar -cf '${tarFile}' ${excluded.map((name) => `--exclude='./${name}'`).join(" ")} -C '${source}' .`);
  assert.equal(result.code, 0, result.stderr);
  return tarFile;
}

/** Every path the image's layers hold (directories without their trailing /). */
async function imagePaths(image: string): Promise<Set<string>> {
  return new Set((await layerEntryNames(image)).map((name) => name.replace(/^\.\//, "").replace(/\/$/, "")));
}

/** The paths of `names` that the image holds, at any depth. */
function present(paths: Set<string>, names: string[]): string[] {
  return names.filter((name) => paths.has(name) || [...paths].some((file) => file.startsWith(`${name}/`)));
}

describe("a project folder as a source", () => {
  const LEFT_OUT = [
    ".git",
    ".venv",
    "tools/env",
    "pkg/__pycache__",
    "stray.pyc",
    "build",
    "dist",
    "x.egg-info",
    "src/y.egg-info",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".pypakrignore",
    "secrets",
    "debug.log",
  ];
  const KEPT = ["app.py", "run", "pkg/__init__.py", "data/build", "docs/dist.md", "vendor/dist/keep.txt", "src/y/__init__.py"];
  let source: string;

  before(async () => {
    source = path.join(own.dir, "project");
    await write(source, {
      "app.py": "print('the app')\n",
      "pkg/__init__.py": "",
      "pkg/__pycache__/__init__.cpython-311.pyc": "bytecode",
      "stray.pyc": "bytecode",
      "data/build": "a file named build is not a build directory\n",
      "docs/dist.md": "kept\n",
      "build/lib/pkg/__init__.py": "",
      "dist/project-1.0.tar.gz": "sdist",
      "vendor/dist/keep.txt": "taken back by .pypakrignore\n",
      "x.egg-info/PKG-INFO": "Name: x\n",
      "src/y/__init__.py": "",
      "src/y.egg-info/PKG-INFO": "Name: y\n",
      ".pytest_cache/v/cache/lastfailed": "{}",
      ".mypy_cache/3.11/app.meta.json": "{}",
      ".ruff_cache/CACHEDIR.TAG": "",
      ".tox/py311/log": "",
      ".nox/tests/log": "",
      "secrets/token": "do not ship",
      "debug.log": "do not ship",
      ".pypakrignore": "# the app's own additions\nsecrets/\n*.log\n!vendor/dist/\n",
    });
    // setup runs in the build: what is left out is not there at all, as with .dockerignore.
    await writeExecutable(path.join(source, "setup"), "#!/bin/sh\nset -e\nfor f in .git .venv build secrets .pypakrignore; do test ! -e \"$f\" || { echo \"setup sees $f\"; exit 1; }; done\n");
    await writeExecutable(path.join(source, "run"), "#!/bin/sh\nexec python app.py\n");
    assert.equal(sh("git init -q . && git add app.py && git -c user.name=t -c user.email=t@t commit -qm init", { cwd: source }).code, 0, "git init");
    // A real venv: its bin/python is an absolute link out of the folder, which a source may not hold.
    assert.equal(sh("python3 -m venv --without-pip .venv && python3 -m venv --without-pip tools/env", { cwd: source }).code, 0, "python -m venv");
  });

  for (const form of ["directory", "tar"] as const) {
    test(`.git, venvs, bytecode, build output, tool caches and what .pypakrignore names stay out (${form})`, async () => {
      const image = path.join(own.dir, `project-${form}.tar`);
      // A tar is checked as any untrusted archive before .pypakrignore applies, so it cannot hold a venv's absolute links.
      const given = form === "tar" ? tarWithout(source, path.join(own.dir, "project-src.tar"), [".venv", "tools/env"]) : source;
      const result = expectOk(await run(["create-image", "-s", given, "-i", image]), "create-image of a project folder");
      assert.match(result.stderr, /left out of the image \(\.pypakrignore\): \.git, \.mypy_cache/);
      const paths = await imagePaths(image);
      assert.deepEqual(present(paths, LEFT_OUT), [], "left-out paths are in the image");
      assert.deepEqual(
        KEPT.filter((file) => !paths.has(file)),
        [],
        "app files are missing from the image",
      );
      const container = path.join(own.dir, `project-${form}-container`);
      expectOk(await run(["create-container", "-i", image, "-c", container]), "create-container");
      assert.equal(expectOk(await run(["run", "-c", container]), "run").stdout, "the app\n");
    });
  }

  test("a tar holding a venv is refused with a hint to leave it out of the tar or build from the folder", async () => {
    const tar = tarWithout(source, path.join(own.dir, "project-with-venv.tar"), []);
    const result = await run(["create-image", "-s", tar, "-i", path.join(own.dir, "with-venv.tar")]);
    expectCleanFailure(result, /"(\.venv|tools\/env)\/bin\/python[0-9.]*" is a symlink to the absolute path/);
    assert.match(result.stderr, /hint: Make the tar without it \(a virtual environment: tar --exclude=\.venv \.\.\.\), or build from the folder itself, where \.pypakrignore/);
  });

  test("a venv is taken back only by name (!.venv/), and then its outside link is refused with a hint", async () => {
    const copy = path.join(own.dir, "project-venv-back");
    assert.equal(sh(`cp -a '${source}' '${copy}' && printf '!.venv/\\n' >> '${copy}/.pypakrignore'`).code, 0);
    const result = await run(["create-image", "-s", copy, "-i", path.join(own.dir, "venv-back.tar")]);
    expectCleanFailure(result, /symlink "\.venv\/bin\/python[0-9.]*" -> "\/[^"]*", which points outside the source/);
    assert.match(result.stderr, /hint: .*"\/\.venv\/bin\/python[0-9.]*" in \.pypakrignore/);
  });
});

describe("hints and refusals", () => {
  test("a symlink out of the source is refused with a hint naming .pypakrignore; listed there, it stays out", async () => {
    const source = path.join(own.dir, "outlink");
    await write(source, { "app.py": "print('x')\n" });
    await fs.symlink("/etc/hostname", path.join(source, "hostname"));
    const image = path.join(own.dir, "outlink.tar");
    const refused = await run(["create-image", "-s", source, "-i", image]);
    expectCleanFailure(refused, /symlink "hostname" -> "\/etc\/hostname", which points outside the source/);
    assert.match(refused.stderr, /leave it out of the image with the line "\/hostname" in \.pypakrignore/);
    assert.doesNotMatch(refused.stderr, /Replace it with the file itself\.$/m);
    await assert.rejects(fs.access(image));
    await fs.writeFile(path.join(source, ".pypakrignore"), "/hostname\n");
    expectOk(await run(["create-image", "-s", source, "-i", image]), "create-image with the link left out");
    assert.ok(!(await imagePaths(image)).has("hostname"));
  });

  test("an empty source is refused before anything is made: no base, no image, no temp files", async () => {
    // A home of its own with no base: a refused source must not make one (init takes a while).
    const fresh = path.join(own.dir, "fresh-home");
    await fs.mkdir(fresh);
    const empty = path.join(own.dir, "empty");
    await fs.mkdir(path.join(empty, "just-a-dir"), { recursive: true });
    const image = path.join(own.dir, "empty.tar");
    const result = await pypakr(["create-image", "-s", empty, "-i", image], { home: fresh });
    expectCleanFailure(result, /source .*empty holds no files, so there is nothing to build/);
    assert.match(result.stderr, /hint: Put your app's files, with a setup script, requirements\.txt or pyproject\.toml/);
    await assert.rejects(fs.access(image), "an image was written");
    assert.deepEqual((await listTree(fresh)).filter((entry) => entry !== "tmp"), [], "the refused build left files in pypakr's home");

    // Only what the defaults leave out: the message says so, and how to take something back.
    await write(empty, { "__pycache__/app.cpython-311.pyc": "x", "dist/app-1.0-py3-none-any.whl": "x" });
    const leftOut = await pypakr(["create-image", "-s", empty, "-i", image], { home: fresh });
    expectCleanFailure(leftOut, /holds no files once \.pypakrignore's defaults leave out __pycache__, dist, so there is nothing to build/);
    assert.match(leftOut.stderr, /!dist\//);
    await assert.rejects(fs.access(image));
    assert.deepEqual((await listTree(fresh)).filter((entry) => entry !== "tmp"), []);
  });
});

// Not hermetic: pip builds the setuptools project in an isolated env, fetching setuptools and wheel from the
// configured package index (PyPI or a mirror), as the Flask walkthrough test fetches Flask.
test("pip install . in setup leaves its build/ and *.egg-info out of the image (package index)", { timeout: 600_000 }, async () => {
  const source = path.join(own.dir, "setuptools-project");
  await write(source, {
    "pyproject.toml": '[build-system]\nrequires = ["setuptools>=61", "wheel"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "mylib"\nversion = "1.0"\n',
    "src/mylib/__init__.py": "WORD = 'installed'\n",
  });
  // A subpackage named build, as pip's own pip/_internal/operations/build: the rules are for the app's files only.
  makeWheel(path.join(source, "packages"), { name: "helper", files: { "helper/__init__.py": "", "helper/build/__init__.py": "" } });
  await writeExecutable(path.join(source, "setup"), "#!/bin/sh\nset -e\npip install .\npip install --no-index --find-links packages helper\ntest -d build && ls -d src/*.egg-info\n");
  const image = path.join(own.dir, "setuptools.tar");
  const result = expectOk(await run(["create-image", "-s", source, "-i", image], { timeoutMs: 540_000 }), "create-image");
  assert.match(result.stderr, /left out of the image what setup made \(\.pypakrignore\): build, src\/mylib\.egg-info/);
  const paths = await imagePaths(image);
  assert.deepEqual(present(paths, ["build", "src/mylib.egg-info"]), [], "pip's build leftovers are in the image");
  assert.ok(paths.has("lib/python3.11/site-packages/mylib/__init__.py"), "the project itself is installed");
  assert.ok(paths.has("src/mylib/__init__.py"), "the app's own files are kept");
  assert.ok(paths.has("lib/python3.11/site-packages/helper/build/__init__.py"), "build/ left out an installed package's build subpackage");
});
