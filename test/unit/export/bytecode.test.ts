/**
 * What the runtime's Python leaves after compiling a layer's modules is a
 * stranger's output: only regular bytecode files of the modules pypakr
 * wrote for it go into the layer, each in its directory's __pycache__.
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

test("takes the bytecode of the modules written for the compile only, each into its directory's __pycache__ in the venv", async () => {
  const out = path.join(dir, "out");
  const compiled = path.join(out, "0");
  const site = "lib/python3.11/site-packages";
  const modules = new Set([`${site}/flask/app.py`, `${site}/run.py`, "top.py", `${site}/flask/evil.py`]);

  await put(path.join(compiled, site, "flask/app.cpython-311.pyc"), "code");
  await put(path.join(compiled, site, "run.cpython-311.pyc"), "code2");
  await put(path.join(compiled, "top.cpython-311.pyc"), "top");
  await put(path.join(compiled, site, "ghost.cpython-311.pyc")); // no ghost.py was written
  await put(path.join(compiled, site, "flask/app.cpython-312.pyc")); // another interpreter's tag
  await put(path.join(compiled, site, "flask/notes.txt"));
  await put(path.join(out, "etc/passwd.cpython-311.pyc")); // beside what was compiled, not in it
  await fs.symlink("/etc/shadow", path.join(compiled, site, "flask/evil.cpython-311.pyc"));
  await fs.mkdir(path.join(compiled, site, "dir.cpython-311.pyc"), { recursive: true });

  const entries = await collectBytecode(compiled, modules, "app/venv", ".cpython-311.pyc");
  const files = entries.filter((entry) => entry.type === "file").map((entry) => entry.path).sort();
  assert.deepEqual(files, [`app/venv/__pycache__/top.cpython-311.pyc`, `app/venv/${site}/__pycache__/run.cpython-311.pyc`, `app/venv/${site}/flask/__pycache__/app.cpython-311.pyc`]);
  const dirs = entries.filter((entry) => entry.type === "dir").map((entry) => entry.path).sort();
  assert.deepEqual(dirs, ["app/venv/__pycache__", `app/venv/${site}/__pycache__`, `app/venv/${site}/flask/__pycache__`]);
  const app = entries.find((entry) => entry.path.endsWith("flask/__pycache__/app.cpython-311.pyc"));
  assert.ok(app && app.type === "file" && "source" in app && app.source === path.join(compiled, site, "flask/app.cpython-311.pyc") && app.size === 4);
});

test("nothing compiled, nothing taken", async () => {
  assert.deepEqual(await collectBytecode(path.join(dir, "none"), new Set(["a.py"]), "app/venv", ".cpython-311.pyc"), []);
});
