/** `pypakr serve`'s command line: a bad config or flags are refused before anything starts (exit 2, FILE:LINE named), and --help lists every flag with its default. */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { APP_DEFAULTS, GATEWAY_DEFAULTS } from "../../src/serve/index.js";
import { expectCleanFailure, expectOk, freePort, makeTempDir, pypakr, removeDir } from "../support/helpers.js";
import { accepts } from "../support/serve-gateway.js";

let dir = "";

before(async () => {
  dir = await makeTempDir("pypakr-serve-config-");
});

after(async () => {
  await removeDir(dir);
});

const SERVE_TIMEOUT = { timeoutMs: 60_000 };

describe("pypakr serve refuses a bad config before it starts anything", () => {
  test("a TOML schema error: exit 2, FILE:LINE and the key named, nothing listening", async () => {
    const port = await freePort();
    const file = path.join(dir, "bad.toml");
    await fs.writeFile(file, `listen = "127.0.0.1:${port}"\n\n[apps.hello]\nimage = "hello:1"\npath = "/hello"\nmax-instances = 0\n`);
    const result = await pypakr(["serve", "--config", file], SERVE_TIMEOUT);
    assert.equal(result.code, 2, result.stderr);
    expectCleanFailure(result, new RegExp(`pypakr: error: ${file.replace(/[/.]/g, "\\$&")}:6: apps\\.hello\\.max-instances: must be a whole number from 1 to`));
    assert.match(result.stderr, /pypakr: hint: The most instances at once/);
    assert.equal(result.stdout, "");
    assert.equal(await accepts(port), false);
  });

  test("a YAML unknown key (a typo): exit 2 at its line", async () => {
    const port = await freePort();
    const file = path.join(dir, "bad.yaml");
    await fs.writeFile(file, `listen: "127.0.0.1:${port}"\napps:\n  hello:\n    image: hello:1\n    path: /hello\n    idle-timout: 1s\n`);
    const result = await pypakr(["serve", "--config", file], SERVE_TIMEOUT);
    assert.equal(result.code, 2, result.stderr);
    expectCleanFailure(result, new RegExp(`${file.replace(/[/.]/g, "\\$&")}:6: apps\\.hello\\.idle-timout: unknown setting`));
    assert.equal(await accepts(port), false);
  });

  test("a TOML syntax error: exit 2 at FILE:LINE:COLUMN", async () => {
    const file = path.join(dir, "syntax.toml");
    await fs.writeFile(file, '[apps.hello]\nimage = "hello:1\n');
    const result = await pypakr(["serve", "--config", file], SERVE_TIMEOUT);
    assert.equal(result.code, 2, result.stderr);
    expectCleanFailure(result, new RegExp(`${file.replace(/[/.]/g, "\\$&")}:2:\\d+: `));
  });

  test("a bad flag value names the flag: exit 2", async () => {
    const result = await pypakr(["serve", "--route", "/hello=hello:1", "--idle-timeout", "soon"], SERVE_TIMEOUT);
    assert.equal(result.code, 2, result.stderr);
    expectCleanFailure(result, /pypakr: error: --idle-timeout: must be a duration/);
  });
});

describe("pypakr serve's command line", () => {
  test("--config with --route is a usage error (exit 2) that names both", async () => {
    const file = path.join(dir, "good.toml");
    await fs.writeFile(file, '[apps.hello]\nimage = "hello:1"\npath = "/hello"\n');
    const result = await pypakr(["serve", "--config", file, "--route", "/x=x:1"], SERVE_TIMEOUT);
    assert.equal(result.code, 2, result.stderr);
    expectCleanFailure(result, /--config excludes --route/);
  });

  test("neither --config nor --route is a usage error (exit 2)", async () => {
    const result = await pypakr(["serve"], SERVE_TIMEOUT);
    assert.equal(result.code, 2, result.stderr);
    expectCleanFailure(result, /needs --config FILE or at least one --route/);
  });

  test("--help lists every setting's flag with the schema's default", async () => {
    const help = expectOk(await pypakr(["serve", "--help"]), "serve --help").stdout.replace(/\s+/g, " ");
    for (const flag of ["--config <FILE>", "--route <[HOST]/PREFIX=IMAGE>", "-e, --env <NAME=VALUE>", "--strip-prefix", "--network", "--health-path <PATH>", "--insecure", "--ca-file <FILE>"]) {
      assert.ok(help.includes(flag), `serve --help lacks ${flag}`);
    }
    for (const [key, value] of Object.entries({ ...GATEWAY_DEFAULTS, ...APP_DEFAULTS })) {
      if (typeof value === "boolean") continue; // a switch's default is its absence
      assert.match(help, new RegExp(`--${key} <[A-Z:]+> (?:(?! --).)*\\(default: ${String(value).replace(/[.]/g, "\\.")}\\)`), `serve --help lacks --${key} with its default ${value}`);
    }
  });
});
