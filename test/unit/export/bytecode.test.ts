/**
 * What the runtime's Python leaves after compiling the exported venv is a
 * stranger's output: only regular bytecode files of real modules of the
 * venv, in directories reached without links, go into the bytecode layer.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { collectBytecode } from "../../../src/export/bytecode.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

let dir = "";
before(async () => {
  dir = await makeTempDir("pypakr-unit-bytecode-");
});
after(() => removeDir(dir));

async function put(file: string, content = "x"): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, content);
}

test("takes the bytecode of the venv's modules only, each into its directory's __pycache__", async () => {
  const rootfs = path.join(dir, "rootfs");
  const out = path.join(dir, "out");
  const site = "app/venv/lib/python3.11/site-packages";
  await put(path.join(rootfs, site, "flask/app.py"));
  await put(path.join(rootfs, site, "run.py"));
  await put(path.join(rootfs, "etc/passwd.py"));
  await fs.symlink("lib", path.join(rootfs, "app/venv/lib64"));
  await fs.mkdir(path.join(rootfs, site, "dirmod.py"), { recursive: true });

  await put(path.join(out, site, "flask/app.cpython-311.pyc"), "code");
  await put(path.join(out, site, "run.cpython-311.pyc"), "code2");
  await put(path.join(out, site, "ghost.cpython-311.pyc")); // no ghost.py
  await put(path.join(out, site, "dirmod.cpython-311.pyc")); // dirmod.py is a directory
  await put(path.join(out, site, "flask/app.cpython-312.pyc")); // another interpreter's tag
  await put(path.join(out, site, "flask/notes.txt"));
  await put(path.join(out, "app/venv/lib64/python3.11/site-packages/run.cpython-311.pyc")); // through lib64 -> lib
  await put(path.join(out, "etc/passwd.cpython-311.pyc")); // outside the venv
  await fs.symlink("/etc/shadow", path.join(out, site, "flask/evil.cpython-311.pyc"));
  await put(path.join(rootfs, site, "flask/evil.py"));

  const entries = await collectBytecode(rootfs, out, "/app/venv", ".cpython-311.pyc");
  const files = entries.filter((entry) => entry.type === "file").map((entry) => entry.path).sort();
  assert.deepEqual(files, [`${site}/__pycache__/run.cpython-311.pyc`, `${site}/flask/__pycache__/app.cpython-311.pyc`]);
  const dirs = entries.filter((entry) => entry.type === "dir").map((entry) => entry.path).sort();
  assert.deepEqual(dirs, [`${site}/__pycache__`, `${site}/flask/__pycache__`]);
  const app = entries.find((entry) => entry.path.endsWith("flask/__pycache__/app.cpython-311.pyc"));
  assert.ok(app && app.type === "file" && "source" in app && app.source === path.join(out, site, "flask/app.cpython-311.pyc") && app.size === 4);
});
