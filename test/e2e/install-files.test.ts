/** Without a setup script, pypakr installs the source's requirements.txt or pyproject.toml itself. */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { expectOk, JOKE, makeTempDir, makeWheel, pypakr, removeDir, writeExecutable } from "../support/helpers.js";

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => removeDir(dir));

async function buildAndRun(source: string, name: string): Promise<{ stdout: string; distributions: string[] }> {
  const image = path.join(dir, `${name}.tar`);
  expectOk(await pypakr(["create-image", "-s", source, "-i", image]), `create-image (${name})`);
  const inspected = JSON.parse(expectOk(await pypakr(["inspect", "--json", image]), "inspect").stdout) as { distributions: { name: string }[] };
  const container = path.join(dir, `${name}-container`);
  expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");
  return { stdout: expectOk(await pypakr(["run", "-c", container]), "run").stdout, distributions: inspected.distributions.map((d) => d.name) };
}

test("a source with requirements.txt and no setup is installed with pip install -r", async () => {
  const source = path.join(dir, "req");
  makeWheel(path.join(source, "wheels"), { name: "jokes-core", files: { "jokes_core/__init__.py": `JOKES = [${JSON.stringify(JOKE)}]\n` } });
  await fs.writeFile(path.join(source, "requirements.txt"), "--no-index\n--find-links wheels\njokes-core==1.0\n");
  await writeExecutable(path.join(source, "run"), "#!/bin/sh\nexec python -c 'import jokes_core; print(jokes_core.JOKES[0])'\n");
  const { stdout, distributions } = await buildAndRun(source, "req");
  assert.equal(stdout, `${JOKE}\n`);
  assert.deepEqual(distributions, ["jokes-core"]);
});

test("a source with pyproject.toml and no setup is installed with pip install . (real PyPI for the build backend)", { timeout: 300_000 }, async () => {
  const source = path.join(dir, "project");
  await fs.mkdir(path.join(source, "hello_app"), { recursive: true });
  await fs.writeFile(
    path.join(source, "pyproject.toml"),
    '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "hello-app"\nversion = "0.1"\n\n[project.scripts]\nhello-app = "hello_app:main"\n\n[tool.setuptools]\npackages = ["hello_app"]\n',
  );
  await fs.writeFile(path.join(source, "hello_app", "__init__.py"), "def main():\n    print('hello from the project')\n");
  await writeExecutable(path.join(source, "run"), "#!/bin/sh\nexec hello-app\n");
  const { stdout, distributions } = await buildAndRun(source, "project");
  assert.equal(stdout, "hello from the project\n");
  assert.deepEqual(distributions, ["hello-app"]);
});
