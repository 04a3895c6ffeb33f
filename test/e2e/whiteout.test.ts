/** Files a build deletes from the base travel as OCI whiteouts and are absent from containers. */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { expectOk, makeTempDir, pypakr, removeDir, writeExecutable } from "../support/helpers.js";
import { layerEntryNames } from "../support/image-files.js";

let dir: string;
before(async () => (dir = await makeTempDir()));
after(() => removeDir(dir));

test("base files deleted by setup (pip uninstall, rm) are whited out and absent from the container", async () => {
  const source = path.join(dir, "src");
  await writeExecutable(
    path.join(source, "setup"),
    "#!/bin/sh\nset -e\nrm bin/Activate.ps1\npip uninstall -y setuptools\n",
  );
  await writeExecutable(path.join(source, "run"), "#!/bin/sh\npython -c 'import setuptools' 2>/dev/null && echo present || echo absent\n");
  const image = path.join(dir, "image.tar");
  expectOk(await pypakr(["create-image", "-s", source, "-i", image]), "create-image");

  const names = await layerEntryNames(image);
  assert.ok(names.some((name) => /(^|\/)bin\/\.wh\.Activate\.ps1$/.test(name)), names.join("\n"));
  const setuptoolsWhiteouts = names.filter((name) => /site-packages\/\.wh\.setuptools/.test(name));
  assert.ok(setuptoolsWhiteouts.length >= 1, "one whiteout per removed tree, not per file");
  assert.ok(!names.some((name) => /site-packages\/setuptools\/.wh\./.test(name)), "whiteouts inside a removed tree are redundant");

  const container = path.join(dir, "container");
  expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");
  await assert.rejects(fs.access(path.join(container, "bin", "Activate.ps1")));
  const site = path.join(container, "lib", (await fs.readdir(path.join(container, "lib")))[0] ?? "", "site-packages");
  assert.ok(!(await fs.readdir(site)).some((name) => name.startsWith("setuptools")), "setuptools is still in the container");
  assert.ok((await fs.readdir(site)).some((name) => name.startsWith("pip")), "pip should remain");
  assert.equal(expectOk(await pypakr(["run", "-c", container]), "run").stdout, "absent\n");
});
