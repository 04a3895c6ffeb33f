import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { defaultConfigFile, loadConfig, tmpDir } from "../../../src/config/config.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

const DEFAULT_LIMITS = { layerEntries: 1_000_000, imageEntries: 1_000_000 };

let root = "";
let home = "";
let caseNumber = 0;

before(async () => {
  root = await makeTempDir("pypakr-unit-config-");
});

after(async () => {
  await removeDir(root);
});

// Each test gets its own empty HOME, so no test sees another's ~/.pypakr.
beforeEach(async () => {
  caseNumber += 1;
  home = path.join(root, `home-${caseNumber}`);
  await fs.mkdir(home);
});

/** An environment with only what the test gives: no XDG or PYPAKR variables leak in from the real one. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { HOME: home, ...extra };
}

async function writeHomeConfig(text: string): Promise<string> {
  const file = path.join(home, ".pypakr");
  await fs.writeFile(file, text);
  return file;
}

/** Asserts that loading fails with a PypakrError pointing at `file` line `line`. */
async function assertConfigError(environment: NodeJS.ProcessEnv, file: string, line: number, pattern: RegExp): Promise<void> {
  await assert.rejects(loadConfig(environment), (error: unknown) => {
    assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${String(error)}`);
    assert.ok(error.message.includes(`${file}:${line}:`), `message should name ${file}:${line}: but is: ${error.message}`);
    assert.match(error.message, pattern);
    assert.ok(error.hint, "a config error comes with a hint");
    return true;
  });
}

describe("loadConfig defaults", () => {
  test("loadConfig without a config file uses the XDG data dir under HOME, python3 and no file", async () => {
    const config = await loadConfig(env());
    const pypakrDir = path.join(home, ".local", "share", "pypakr");
    assert.deepEqual(config, { file: null, pypakrDir, basesDir: path.join(pypakrDir, "bases"), python: "python3", limits: DEFAULT_LIMITS });
  });

  test("defaultConfigFile is HOME/.pypakr", () => {
    assert.equal(defaultConfigFile(env()), path.join(home, ".pypakr"));
  });

  test("tmpDir is inside the pypakr dir", async () => {
    const config = await loadConfig(env());
    assert.equal(tmpDir(config), path.join(config.pypakrDir, "tmp"));
  });

  test("loadConfig honours an absolute XDG_DATA_HOME", async () => {
    const config = await loadConfig(env({ XDG_DATA_HOME: "/xdg/data" }));
    assert.equal(config.pypakrDir, "/xdg/data/pypakr");
    assert.equal(config.basesDir, "/xdg/data/pypakr/bases");
  });

  test("loadConfig ignores a relative XDG_DATA_HOME, as the XDG spec requires", async () => {
    const config = await loadConfig(env({ XDG_DATA_HOME: "relative/data" }));
    assert.equal(config.pypakrDir, path.join(home, ".local", "share", "pypakr"));
  });
});

describe("loadConfig with a config file", () => {
  test("loadConfig reads the original [Global] form with base and pypakrdir from HOME/.pypakr", async () => {
    const file = await writeHomeConfig("[Global]\nbase = /x/BASE\npypakrdir = /x\n");
    const config = await loadConfig(env());
    assert.deepEqual(config, { file, pypakrDir: "/x", basesDir: "/x/BASE", python: "python3", limits: DEFAULT_LIMITS });
  });

  test("loadConfig puts bases under pypakrdir when only pypakrdir is set", async () => {
    await writeHomeConfig("[Global]\npypakrdir = /srv/pypakr\n");
    const config = await loadConfig(env());
    assert.equal(config.pypakrDir, "/srv/pypakr");
    assert.equal(config.basesDir, "/srv/pypakr/bases");
  });

  test("loadConfig keeps the default pypakr dir when only base is set", async () => {
    await writeHomeConfig("[Global]\nbase = /srv/bases\n");
    const config = await loadConfig(env());
    assert.equal(config.pypakrDir, path.join(home, ".local", "share", "pypakr"));
    assert.equal(config.basesDir, "/srv/bases");
  });

  test("loadConfig expands ~/ and ~ to HOME", async () => {
    await writeHomeConfig("[Global]\npypakrdir = ~/pp\nbase = ~\n");
    const config = await loadConfig(env());
    assert.equal(config.pypakrDir, path.join(home, "pp"));
    assert.equal(config.basesDir, home);
  });

  test("loadConfig normalizes paths from the file and drops a trailing slash", async () => {
    await writeHomeConfig("[Global]\npypakrdir = /a/./b//c/../d//\nbase = ~/bases/\n");
    const config = await loadConfig(env());
    assert.equal(config.pypakrDir, "/a/b/d");
    assert.equal(config.basesDir, path.join(home, "bases"));
  });

  test("loadConfig keeps / as /", async () => {
    await writeHomeConfig("[Global]\npypakrdir = /\n");
    assert.equal((await loadConfig(env())).pypakrDir, "/");
  });

  test("loadConfig accepts comments with # and ;, indented comments and blank lines", async () => {
    await writeHomeConfig("# pypakr settings\n; another comment\n\n[Global]\n   # indented\n\nbase = /x/BASE\n\n; end\n");
    assert.equal((await loadConfig(env())).basesDir, "/x/BASE");
  });

  test("loadConfig accepts CRLF line endings", async () => {
    await writeHomeConfig("[Global]\r\nbase = /x/BASE\r\npypakrdir = /x\r\n");
    const config = await loadConfig(env());
    assert.equal(config.basesDir, "/x/BASE");
    assert.equal(config.pypakrDir, "/x");
  });

  test("loadConfig accepts an empty file and then uses the defaults", async () => {
    const file = await writeHomeConfig("");
    const config = await loadConfig(env());
    assert.equal(config.file, file);
    assert.equal(config.pypakrDir, path.join(home, ".local", "share", "pypakr"));
  });

  test("loadConfig reads PYPAKR_CONFIG instead of HOME/.pypakr", async () => {
    await writeHomeConfig("[Global]\npypakrdir = /from/home\n");
    const file = path.join(home, "other.ini");
    await fs.writeFile(file, "[Global]\npypakrdir = /from/explicit\n");
    const config = await loadConfig(env({ PYPAKR_CONFIG: file }));
    assert.equal(config.file, file);
    assert.equal(config.pypakrDir, "/from/explicit");
  });

  test("loadConfig fails with a PypakrError when PYPAKR_CONFIG names a missing file", async () => {
    const missing = path.join(home, "missing.ini");
    await assert.rejects(loadConfig(env({ PYPAKR_CONFIG: missing })), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.ok(error.message.includes(missing), error.message);
      assert.match(error.hint ?? "", /PYPAKR_CONFIG/);
      return true;
    });
  });

  test("loadConfig fails with a PypakrError when HOME/.pypakr cannot be read", async () => {
    // A directory where the file should be: reading it fails with something other than ENOENT.
    await fs.mkdir(path.join(home, ".pypakr"));
    await assert.rejects(loadConfig(env()), PypakrError);
  });
});

describe("loadConfig environment overrides", () => {
  test("PYPAKR_HOME overrides both pypakrdir and base from the file", async () => {
    await writeHomeConfig("[Global]\nbase = /x/BASE\npypakrdir = /x\n");
    const config = await loadConfig(env({ PYPAKR_HOME: "/ph" }));
    assert.equal(config.pypakrDir, "/ph");
    assert.equal(config.basesDir, "/ph/bases");
  });

  test("PYPAKR_HOME overrides the XDG default", async () => {
    const config = await loadConfig(env({ PYPAKR_HOME: "/ph", XDG_DATA_HOME: "/xdg" }));
    assert.equal(config.pypakrDir, "/ph");
    assert.equal(config.basesDir, "/ph/bases");
  });

  test("the python key sets the default interpreter", async () => {
    await writeHomeConfig("[Global]\npython = /opt/py/bin/python3.12\n");
    assert.equal((await loadConfig(env())).python, "/opt/py/bin/python3.12");
  });

  test("PYPAKR_PYTHON beats the python key", async () => {
    await writeHomeConfig("[Global]\npython = /opt/py/bin/python3.12\n");
    assert.equal((await loadConfig(env({ PYPAKR_PYTHON: "python3.11" }))).python, "python3.11");
  });

  test("PYPAKR_PYTHON applies without a config file", async () => {
    assert.equal((await loadConfig(env({ PYPAKR_PYTHON: "/usr/bin/python3" }))).python, "/usr/bin/python3");
  });
});

describe("loadConfig refuses malformed files with FILE:LINE:", () => {
  test("loadConfig refuses an unknown section", async () => {
    const file = await writeHomeConfig("[Global]\nbase = /x\n\n[Other]\nbase = /y\n");
    await assertConfigError(env(), file, 4, /unknown section \[Other\]/);
  });

  test("loadConfig refuses a line without =", async () => {
    const file = await writeHomeConfig("[Global]\nbase /x\n");
    await assertConfigError(env(), file, 2, /cannot read "base \/x"/);
  });

  test("loadConfig refuses a key before any section", async () => {
    const file = await writeHomeConfig("# comment\nbase = /x\n[Global]\n");
    await assertConfigError(env(), file, 2, /"base" comes before any section/);
  });

  test("loadConfig refuses an unknown key", async () => {
    const file = await writeHomeConfig("[Global]\n; comment\nbasedir = /x\n");
    await assertConfigError(env(), file, 3, /unknown key "basedir"/);
  });

  test("loadConfig refuses a key with an empty value", async () => {
    const file = await writeHomeConfig("[Global]\npypakrdir = /x\nbase =\n");
    await assertConfigError(env(), file, 3, /"base" has no value/);
  });

  test("loadConfig refuses a relative path and names the line it is on", async () => {
    const file = await writeHomeConfig("[Global]\n\nbase = /x/BASE\npypakrdir = relative/dir\n");
    await assertConfigError(env(), file, 4, /"pypakrdir" must be an absolute path, not "relative\/dir"/);
  });

  test("loadConfig reports errors in the PYPAKR_CONFIG file with that file's path", async () => {
    const file = path.join(home, "explicit.ini");
    await fs.writeFile(file, "[global]\n");
    await assertConfigError(env({ PYPAKR_CONFIG: file }), file, 1, /unknown section \[global\]/);
  });
});

describe("loadConfig entry caps", () => {
  test("loadConfig takes the entry caps from PYPAKR_MAX_LAYER_ENTRIES and PYPAKR_MAX_IMAGE_ENTRIES", async () => {
    const config = await loadConfig(env({ PYPAKR_MAX_LAYER_ENTRIES: "5000", PYPAKR_MAX_IMAGE_ENTRIES: "20000" }));
    assert.deepEqual(config.limits, { layerEntries: 5000, imageEntries: 20000 });
  });

  for (const value of ["0", "-1", "1e6", "lots", "12345678901", " 5"]) {
    test(`loadConfig refuses an entry cap of ${JSON.stringify(value)}, naming the variable and the fix`, async () => {
      await assert.rejects(loadConfig(env({ PYPAKR_MAX_LAYER_ENTRIES: value })), (error: unknown) => {
        assert.ok(error instanceof PypakrError);
        assert.match(error.message, /^PYPAKR_MAX_LAYER_ENTRIES=".*" is not a positive whole number$/);
        assert.match(error.hint ?? "", /unset it/);
        return true;
      });
    });
  }
});
