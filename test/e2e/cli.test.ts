/** The command line the original promised: help, version, usage errors, config file. */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { expectCleanFailure, expectOk, makeTempDir, pypakr, removeDir, REPO, sh } from "../support/helpers.js";

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

describe("the Node.js that runs pypakr", () => {
  /** A Node.js older than 22.15 on this machine, if there is one (Debian's /usr/bin/node is 18 or 20). */
  function olderNode(): string | null {
    for (const candidate of ["/usr/bin/node", "/usr/local/bin/node"]) {
      const version = sh(`'${candidate}' -p process.versions.node`);
      if (version.code !== 0) continue;
      const [major = 0, minor = 0] = version.stdout.trim().split(".").map(Number);
      if (major < 22 || (major === 22 && minor < 15)) return candidate;
    }
    return null;
  }

  test("PYPAKR_NODE picks the Node.js; one older than 22.15 is refused with the fix, not a crash", async (context) => {
    assert.equal(expectOk(await pypakr(["--version"], { env: { PYPAKR_NODE: process.execPath } }), "PYPAKR_NODE=this node").code, 0);
    const older = olderNode();
    if (!older) return context.skip("no Node.js older than 22.15 on this machine to refuse");
    const refused = await pypakr(["images"], { env: { PYPAKR_NODE: older } });
    expectCleanFailure(refused, /pypakr needs Node\.js 22\.15 or newer, and .* is \d+\.\d+/);
    assert.match(refused.stderr, /Install Node\.js 24 LTS/);
    const json = await pypakr(["images", "--json"], { env: { PYPAKR_NODE: older } });
    assert.equal((JSON.parse(json.stderr) as { error: { code: string } }).error.code, "node-too-old");
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
    for (const command of ["init", "create-image", "create-container", "run", "inspect", "images", "rmi", "save", "load", "push", "pull", "login", "logout", "gc", "store", "verify", "relocate", "serve", "export", "sbom"]) {
      const help = expectOk(await pypakr([command, "--help"]), `${command} --help`).stdout.trimEnd();
      assert.ok(readme.includes(help), `README.md lacks the current \`pypakr ${command} --help\``);
    }
  });
});
