/** The command line the original promised: help, version, usage errors, config file. */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { expectCleanFailure, expectOk, makeTempDir, pypakr, removeDir, REPO } from "../support/helpers.js";

describe("help and version", () => {
  test("pypakr alone and pypakr help print every command, its options, and the config file", async () => {
    const alone = expectOk(await pypakr([]), "pypakr");
    const help = expectOk(await pypakr(["help"]), "pypakr help");
    assert.equal(alone.stdout, help.stdout);
    for (const text of ["init", "create-image", "create-container", "run", "inspect", "images", "rmi", "save", "load", "push", "pull", "login", "logout", "gc", "store", "verify", "relocate", "--link", "-s, --src", "-i, --image", "-c, --container", "-r, --script", "--force", "--python", "[Global]", "base =", "pypakrdir ="]) {
      assert.ok(help.stdout.includes(text), `help lacks ${text}`);
    }
  });

  test("COMMAND --help and help COMMAND describe one command", async () => {
    const viaFlag = expectOk(await pypakr(["create-container", "--help"]), "--help");
    const viaHelp = expectOk(await pypakr(["help", "create-container"]), "help create-container");
    assert.equal(viaFlag.stdout, viaHelp.stdout);
    assert.match(viaFlag.stdout, /-c, --container <DIR>/);
  });

  test("--version prints the package version", async () => {
    const manifest = JSON.parse(await fs.readFile(path.join(REPO, "package.json"), "utf8")) as { version: string };
    assert.equal(expectOk(await pypakr(["--version"]), "--version").stdout.trim(), manifest.version);
  });

  test("usage mistakes exit 2 with a pointer to the help", async () => {
    for (const args of [["bogus"], ["create-image", "-s", "x"], ["create-container", "--nope"]]) {
      const result = await pypakr(args);
      assert.equal(result.code, 2, args.join(" "));
      assert.match(result.stderr, /pypakr help/);
    }
  });

  test("--python naming a missing interpreter says how to fix it", async () => {
    expectCleanFailure(await pypakr(["init", "--python", "/no/such/python3.42"]), /no\/such\/python3\.42[\s\S]*--python/);
    expectCleanFailure(await pypakr(["init"], { env: { PYPAKR_PYTHON: "python3.42-not-installed" } }), /"python3\.42-not-installed" is not on PATH/);
  });

  test("--debug adds the stack trace that is otherwise hidden", async () => {
    const plain = await pypakr(["inspect", "/nonexistent.tar"]);
    const debug = await pypakr(["--debug", "inspect", "/nonexistent.tar"]);
    expectCleanFailure(plain, /does not exist/);
    assert.match(debug.stderr, /\n\s+at /);
  });
});

describe("config file", () => {
  let home: string;
  before(async () => (home = await makeTempDir()));
  after(() => removeDir(home));

  test("the original's ~/.pypakr ([Global] base, pypakrdir) decides where bases go", async () => {
    await fs.writeFile(path.join(home, ".pypakr"), `[Global]\nbase = ${home}/pypakr/BASE\npypakrdir = ${home}/pypakr\n`);
    const env = { HOME: home, PYPAKR_HOME: "" };
    const result = expectOk(await pypakr(["init", "--json"], { env }), "init");
    const base = JSON.parse(result.stdout) as { dir: string; created: boolean };
    assert.ok(base.dir.startsWith(`${home}/pypakr/BASE/cpython-`), base.dir);
    assert.equal(base.created, true);
    const again = JSON.parse(expectOk(await pypakr(["init", "--json"], { env }), "init again").stdout) as { created: boolean };
    assert.equal(again.created, false, "init twice is harmless");
    await fs.access(path.join(base.dir, "bin", "python"));
  });

  test("a malformed config names the file, the line and the problem", async () => {
    const file = path.join(home, "bad.ini");
    await fs.writeFile(file, "[Global]\nbase = /x\nthis line is wrong\n");
    const result = await pypakr(["init"], { env: { PYPAKR_CONFIG: file, PYPAKR_HOME: "" } });
    expectCleanFailure(result, new RegExp(`${file.replace(/[/.]/g, "\\$&")}:3: cannot read "this line is wrong"`));
  });
});

describe("README", () => {
  // The README promises to show each command's help; this keeps it true.
  test("shows every command's current --help verbatim", async () => {
    const readme = await fs.readFile(path.join(REPO, "README.md"), "utf8");
    for (const command of ["init", "create-image", "create-container", "run", "inspect", "images", "rmi", "save", "load", "push", "pull", "login", "logout", "gc", "store", "verify", "relocate"]) {
      const help = expectOk(await pypakr([command, "--help"]), `${command} --help`).stdout.trimEnd();
      assert.ok(readme.includes(help), `README.md lacks the current \`pypakr ${command} --help\``);
    }
  });
});
