// test-stream: own-home
/**
 * The same wheel on the same base makes the same layer, however pip was run:
 * `pip`, `pip3` and `python3` write a console script's shebang naming
 * bin/python3, `python -m pip` and a requirements.txt name bin/python, and a
 * work path holding a space makes pip write its `/bin/sh` re-exec form. The
 * layer holds one form, and the script still runs in a container.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { expectOk, homeSharingBases, makeTempDir, makeWheel, privateHome, pypakr, removeDir, sh, SHARED_HOME, writeExecutable } from "../support/helpers.js";

interface Inspected {
  layers: { digest: string; holds: string }[];
}

const GREETING = "hello from the greeter";

let dir: string;
let home: string;
let wheels: string;
before(async () => {
  dir = await makeTempDir();
  home = await privateHome(dir);
  wheels = path.join(dir, "wheels");
  makeWheel(wheels, {
    name: "greeter",
    files: { "greeter/__init__.py": `def main():\n    print(${JSON.stringify(GREETING)})\n` },
    scripts: { greet: "greeter:main" },
  });
});
after(() => removeDir(dir));

/** A source whose install step is `install` (a setup line, or requirements.txt's content). */
async function makeSource(name: string, install: { setup: string } | { requirements: string }): Promise<string> {
  const source = path.join(dir, name);
  await fs.cp(wheels, path.join(source, "packages"), { recursive: true });
  if ("setup" in install) await writeExecutable(path.join(source, "setup"), `#!/bin/sh\nset -e\n${install.setup}\n`);
  else await fs.writeFile(path.join(source, "requirements.txt"), install.requirements);
  return source;
}

async function greeterLayer(source: string, image: string, buildHome = home): Promise<string> {
  expectOk(await pypakr(["create-image", "-s", source, "-i", image], { home: buildHome }), `create-image of ${path.basename(source)}`);
  const inspected = JSON.parse(expectOk(await pypakr(["inspect", "--json", image], { home: buildHome }), "inspect").stdout) as Inspected;
  const layer = inspected.layers.find((candidate) => candidate.holds === "greeter 1.0");
  assert.ok(layer, `no greeter layer in ${JSON.stringify(inspected.layers)}`);
  return layer.digest;
}

const FIND = "--no-index --find-links packages greeter";
const WAYS: [string, { setup: string } | { requirements: string }][] = [
  ["pip", { setup: `pip install ${FIND}` }],
  ["pip3", { setup: `pip3 install ${FIND}` }],
  ["python-m-pip", { setup: `python -m pip install ${FIND}` }],
  ["python3-m-pip", { setup: `python3 -m pip install ${FIND}` }],
  ["requirements", { requirements: "--no-index\n--find-links packages\ngreeter\n" }],
];

test("pip, pip3, python -m pip and requirements.txt installing the same wheel make the same layer, and its console script runs", { timeout: 600_000 }, async () => {
  const layers = new Map<string, string>();
  for (const [way, install] of WAYS) layers.set(way, await greeterLayer(await makeSource(way, install), path.join(dir, `${way}.tar`)));
  assert.equal(new Set(layers.values()).size, 1, `layers differ: ${JSON.stringify(Object.fromEntries(layers))}`);

  for (const way of ["pip", "requirements"]) {
    const container = path.join(dir, `cont-${way}`);
    expectOk(await pypakr(["create-container", "-i", path.join(dir, `${way}.tar`), "-c", container], { home }), "create-container");
    const ran = sh(`'${container}/bin/greet'`);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), GREETING);
  }
});

test("pip's /bin/sh form (a work path holding a space) makes the same layer as a plain shebang", { timeout: 300_000 }, async () => {
  const source = await makeSource("spaced", { setup: `pip install ${FIND}` });
  const plain = await greeterLayer(source, path.join(dir, "plain.tar"));
  // The work env goes under the home's tmp dir, so pip installs at a path with a space in it.
  const spacedHome = await homeSharingBases(SHARED_HOME, path.join(dir, "a home"));
  const spaced = await greeterLayer(source, path.join(dir, "spaced.tar"), spacedHome);
  assert.equal(spaced, plain);

  const container = path.join(dir, "cont spaced");
  expectOk(await pypakr(["create-container", "-i", path.join(dir, "spaced.tar"), "-c", container], { home: spacedHome }), "create-container");
  const ran = sh(`'${container}/bin/greet'`);
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(ran.stdout.trim(), GREETING);
});

test("a wheel whose console script comes out as the base already has it makes the same layer in every build", { timeout: 300_000 }, async () => {
  // pip's own entry point under pip's own name: the script pip writes is the base's bin/pip, so the build leaves that file
  // as it was, and only the wheel's RECORD, which pip wrote with the hash of the script at the build's path, changes.
  const source = path.join(dir, "shim");
  makeWheel(path.join(source, "packages"), { name: "pipshim", scripts: { pip: "pip._internal.cli.main:main" } });
  await writeExecutable(path.join(source, "setup"), `#!/bin/sh\nset -e\npython -m pip install --no-index --find-links packages pipshim\n`);
  const layerOf = async (image: string) => {
    expectOk(await pypakr(["create-image", "-s", source, "-i", image], { home }), "create-image");
    const inspected = JSON.parse(expectOk(await pypakr(["inspect", "--json", image], { home }), "inspect").stdout) as Inspected;
    return inspected.layers.find((layer) => layer.holds === "pipshim 1.0")?.digest;
  };
  const first = await layerOf(path.join(dir, "shim-1.tar"));
  assert.ok(first);
  assert.equal(await layerOf(path.join(dir, "shim-2.tar")), first);
});
