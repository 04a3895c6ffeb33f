// test-stream: own-home
/**
 * Paths a user may choose that need quoting: `python -m venv "/tmp/bob's venv"`
 * works, activate and pip included, so a container or a pypakr home there
 * must work too. Only what no quoting in venv's scripts can carry is refused.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { buildJokesImage, expectCleanFailure, expectOk, JOKE, makeTempDir, pypakr, removeDir, type CliOptions } from "../support/helpers.js";

/** Runs `script` in `shell` inside the container, the path passed in the environment (never pasted into code). */
function inShell(shell: string, container: string, script: string): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(shell, ["-c", script], { cwd: container, encoding: "utf8", env: { ...process.env, CONTAINER: container } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** What a user does with a container: run it through pypakr, activate it in sh and bash, use its scripts and pip. */
async function expectWorking(container: string, options: CliOptions = {}): Promise<void> {
  assert.equal(expectOk(await pypakr(["run", "-c", container], options), "run").stdout, `${JOKE}\nargs: \n`);
  assert.equal(expectOk(await pypakr(["run", "-c", container, "-r", "joke", "--", "a b"], options), "run -r").stdout, `${JOKE}\nargs: a b\n`);
  for (const shell of ["sh", "bash"]) {
    const activated = inShell(shell, container, '. bin/activate && [ "$VIRTUAL_ENV" = "$CONTAINER" ] && command -v python && joke x && pip --version');
    assert.equal(activated.code, 0, `${shell}: ${activated.stderr}`);
    assert.ok(activated.stdout.startsWith(`${container}/bin/python\n${JOKE}\nargs: x\npip `), activated.stdout);
    assert.ok(activated.stdout.includes(`from ${container}/lib/python`), activated.stdout);
  }
  const direct = spawnSync(path.join(container, "bin", "joke"), ["y"], { encoding: "utf8" });
  assert.equal(direct.stdout, `${JOKE}\nargs: y\n`, direct.stderr);
  assert.match(expectOk(await pypakr(["verify", "-c", container], options), "verify -c").stdout, /as the image and base made it/);
}

describe("paths with an apostrophe and spaces", () => {
  let dir: string;
  let image: string;

  before(async () => {
    dir = await makeTempDir();
    image = await buildJokesImage(dir);
  });
  after(() => removeDir(dir));

  test("a container at /tmp/.../bob's app runs, activates in sh and bash, and its console scripts and pip work", async () => {
    const container = path.join(dir, "bob's app");
    expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");
    await expectWorking(container);
    assert.match(await fs.readFile(path.join(container, "bin", "activate"), "utf8"), /\(bob's app\)|'\(bob'"'"'s app\) '/);
  });

  test("a pypakr home with an apostrophe and spaces holds the base, builds images and makes containers", async () => {
    const home = path.join(dir, "bob's pypakr home");
    const built = path.join(dir, "from-home.tar");
    const source = path.join(dir, "jokes.tar");
    expectOk(await pypakr(["create-image", "-s", source, "-i", built], { home }), "create-image in the home");
    const container = path.join(dir, "al's container");
    expectOk(await pypakr(["create-container", "-i", built, "-c", container], { home }), "create-container");
    await expectWorking(container, { home });
  });

  test("a pypakr home holding $ and a space still builds: the work env, whose path pip's scripts quote, goes to TMPDIR instead", async () => {
    const home = path.join(dir, "cost$ly home");
    const built = path.join(dir, "from-dollar-home.tar");
    expectOk(await pypakr(["create-image", "-s", path.join(dir, "jokes.tar"), "-i", built], { home }), "create-image in the home");
    const container = path.join(dir, "from-dollar-home");
    expectOk(await pypakr(["create-container", "-i", built, "-c", container], { home }), "create-container");
    assert.equal(expectOk(await pypakr(["run", "-c", container], { home }), "run").stdout, `${JOKE}\nargs: \n`);
  });

  // Since gh-124651 (backported by distributions, e.g. Debian's 3.11.2) venv writes `VIRTUAL_ENV=/path` bare, quoted
  // by shlex.quote when created: a bare word that must be quoted again when the path moves to one with a space or `'`.
  const shlexPython = ["/usr/bin/python3.11", "/usr/bin/python3"].find((python) => {
    const probe = spawnSync(python, ["-c", "import inspect, venv, ensurepip; print('shlex.quote' in inspect.getsource(venv))"], { encoding: "utf8" });
    return probe.stdout.trim() === "True";
  });
  test("with a venv that shlex-quotes its paths, a home and a container with an apostrophe work too", { skip: shlexPython ? false : "no Python here whose venv uses shlex.quote" }, async () => {
    const options = { home: path.join(dir, "deb's home"), env: { PYPAKR_PYTHON: shlexPython } };
    const built = path.join(dir, "shlex.tar");
    expectOk(await pypakr(["create-image", "-s", path.join(dir, "jokes.tar"), "-i", built], options), "create-image");
    const container = path.join(dir, "eve's container");
    expectOk(await pypakr(["create-container", "-i", built, "-c", container], options), "create-container");
    assert.match(await fs.readFile(path.join(container, "bin", "activate"), "utf8"), /^VIRTUAL_ENV='.*\/eve'"'"'s container'$/m);
    await expectWorking(container, options);
  });

  for (const [bad, named] of [
    ['"', "double quote"],
    ["$", "dollar sign"],
    ["`", "backquote"],
    ["\\", "backslash"],
    ["\n", "line break"],
  ] as const) {
    test(`a container path holding ${JSON.stringify(bad)} is refused, naming the ${named} and why; nothing is made`, async () => {
      const container = path.join(dir, `bad${bad}name`);
      const result = await pypakr(["create-container", "-i", image, "-c", container]);
      expectCleanFailure(result, new RegExp(`contains a ${named}.*cannot hold: activate and pip's script headers put the path inside "\\.\\.\\."`));
      assert.match(result.stderr, /hint: Choose a path without double quotes, \$, backquotes, backslashes or line breaks/);
      await assert.rejects(fs.access(container));
    });
  }
});
