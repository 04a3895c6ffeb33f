/** Without a setup script, pypakr installs the source's requirements.txt or pyproject.toml itself. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { expectOk, JOKE, makeTempDir, makeWheel, pypakr, removeDir, writeExecutable } from "../support/helpers.js";
import { layersContain } from "../support/image-files.js";

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => removeDir(dir));

interface Inspected {
  digest: string;
  distributions: { name: string; origin?: { filename: string; sha256: string; url?: string } }[];
}

async function inspect(image: string): Promise<Inspected> {
  return JSON.parse(expectOk(await pypakr(["inspect", "--json", image]), "inspect").stdout) as Inspected;
}

async function buildAndRun(source: string, name: string): Promise<{ stdout: string; distributions: string[]; inspected: Inspected }> {
  const image = path.join(dir, `${name}.tar`);
  expectOk(await pypakr(["create-image", "-s", source, "-i", image]), `create-image (${name})`);
  const inspected = await inspect(image);
  const container = path.join(dir, `${name}-container`);
  expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");
  return { stdout: expectOk(await pypakr(["run", "-c", container]), "run").stdout, distributions: inspected.distributions.map((d) => d.name), inspected };
}

test("a source with requirements.txt and no setup is installed with pip install -r; each distribution's origin (wheel file name and sha256, from pip's install report) is in the image, and a rebuild gives the same image", async () => {
  const source = path.join(dir, "req");
  const wheel = makeWheel(path.join(source, "wheels"), { name: "jokes-core", files: { "jokes_core/__init__.py": `JOKES = [${JSON.stringify(JOKE)}]\n` } });
  await fs.writeFile(path.join(source, "requirements.txt"), "--no-index\n--find-links wheels\njokes-core==1.0\n");
  await writeExecutable(path.join(source, "run"), "#!/bin/sh\nexec python -c 'import jokes_core; print(jokes_core.JOKES[0])'\n");
  const { stdout, distributions, inspected } = await buildAndRun(source, "req");
  assert.equal(stdout, `${JOKE}\n`);
  assert.deepEqual(distributions, ["jokes-core"]);
  // No url: pip read the wheel from a file: URL, a path of the building machine.
  const sha256 = createHash("sha256").update(await fs.readFile(wheel)).digest("hex");
  assert.deepEqual(inspected.distributions[0]?.origin, { filename: "jokes_core-1.0-py3-none-any.whl", sha256 });
  // The report went to pypakr's scratch dir, not into the image; and it changes nothing from build to build.
  assert.ok(!(await layersContain(path.join(dir, "req.tar"), "pip-report")), "the pip report is in the image");
  const again = path.join(dir, "req-again.tar");
  expectOk(await pypakr(["create-image", "-s", source, "-i", again]), "create-image again");
  assert.equal((await inspect(again)).digest, inspected.digest);
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
  const { stdout, distributions, inspected } = await buildAndRun(source, "project");
  assert.equal(stdout, "hello from the project\n");
  assert.deepEqual(distributions, ["hello-app"]);
  // Built from the source's own folder: no file, no hash, no origin.
  assert.equal(inspected.distributions[0]?.origin, undefined);
});
