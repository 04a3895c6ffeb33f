/** The launch file `pypakr run` sources without Node: it must set exactly what Node's run sets, and never run image data as code. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { launchScript as writeLaunchScript, shellQuote } from "../../../src/container/launch.js";
import { pypakrConfigSchema } from "../../../src/image/format.js";

/** Where the sourcing shell stands: the container's real path, as pypakr.sh's `cd -P` leaves it. */
const HERE = fs.realpathSync(os.tmpdir());

/** A launch file for a container at `dir` that the shell below finds itself in. */
function launchScript(dir: string, environment: Record<string, string>, entrypoint: string[]): string | null {
  return writeLaunchScript(dir, environment, entrypoint, HERE);
}

/**
 * Sources `script` in /bin/sh as pypakr.sh does (in a function, in the
 * container, with "$@" = `--entrypoint ARGS` or `--program PROGRAM ARGS`),
 * and prints the environment and the command line it leaves; throws when it
 * refuses (returns 1).
 */
function source(script: string, args: string[], env: NodeJS.ProcessEnv = { PATH: "/usr/bin:/bin" }, cwd = HERE): { env: Record<string, string>; argv: string[] } {
  const probe = `probe() {\n${script}\nprintf '%s\\0' "$@"; printf '\\1'; /usr/bin/env -0\n}\nprobe "$@" || printf refused`;
  const output = execFileSync("/bin/sh", ["-c", probe, "sh", ...args], { env, encoding: "utf8", cwd });
  if (output === "refused") throw new Error("the launch file refused");
  const [argv = "", environment = ""] = output.split("\x01");
  return {
    argv: argv.split("\0").slice(0, -1),
    env: Object.fromEntries(environment.split("\0").filter(Boolean).map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)])),
  };
}

describe("launch file", () => {
  const tricky = `it's "$HOME" \`id\` $(id) \\ ; | & * ~\nsecond line`;

  test("quotes any text so the shell reads it back unchanged", () => {
    for (const value of ["", "plain", "'", "''", tricky, "\u00e9\u4e2d"]) {
      assert.equal(execFileSync("/bin/sh", ["-c", `printf %s ${shellQuote(value)}`], { encoding: "utf8" }), value);
    }
  });

  test("sets the venv and the image's environment as Node's run does, values verbatim", () => {
    const script = launchScript("/srv/my app", { TRICKY: tricky, EMPTY: "", PATH_EXTRA: "x" }, ["./run", "--flag"]);
    assert.ok(script);
    const { env, argv } = source(script, ["--entrypoint"], { PATH: "/usr/bin:/bin", PYTHONHOME: "/elsewhere", __PYVENV_LAUNCHER__: "x" });
    assert.equal(env.VIRTUAL_ENV, "/srv/my app");
    assert.equal(env.PATH, "/srv/my app/bin:/usr/bin:/bin");
    assert.equal(env.TRICKY, tricky);
    assert.equal(env.EMPTY, "");
    assert.equal(env.PYTHONHOME, undefined);
    assert.equal(env.__PYVENV_LAUNCHER__, undefined);
    assert.deepEqual(argv, ["./run", "--flag"]);
  });

  test("keeps a command line that was given, and defaults to ./run without an entry point", () => {
    const script = launchScript("/c", {}, []);
    assert.ok(script);
    assert.deepEqual(source(script, ["--program", "python", "-c", "pass"]).argv, ["python", "-c", "pass"]);
    assert.deepEqual(source(script, ["--entrypoint"]).argv, ["./run"]);
    assert.equal(source(script, ["--entrypoint"], { PATH: "" }).env.PATH, "/c/bin");
  });

  test("an image's environment may override the venv's, as in Node's run", () => {
    const script = launchScript("/c", { PATH: "/only" }, []);
    assert.ok(script);
    assert.equal(source(script, ["--entrypoint"]).env.PATH, "/only");
  });

  test("the image's variables cannot change the command line: it is settled before any of them is set", () => {
    // IFS made of digits once split `$#` into nothing, so `run -c C -- cmd` ran the entry point instead.
    const environments: Record<string, string>[] = [{ IFS: "1" }, { IFS: "0123456789" }, { IFS: "-gt" }, { PATH: "" }, { mode: "exec", container: "/tmp/x", script: "./evil", has_script: "1" }];
    for (const environment of environments) {
      const script = launchScript("/c", environment, ["./entry", "--flag"]);
      assert.ok(script);
      assert.deepEqual(source(script, ["--program", "python"]).argv, ["python"], JSON.stringify(environment));
      assert.deepEqual(source(script, ["--program", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]).argv, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"], JSON.stringify(environment));
      assert.deepEqual(source(script, ["--entrypoint"]).argv, ["./entry", "--flag"], JSON.stringify(environment));
      assert.deepEqual(source(script, ["--entrypoint", "--name", "x"]).argv, ["./entry", "--flag", "--name", "x"], JSON.stringify(environment));
    }
    const lines = (launchScript("/c", { IFS: "/" }, []) ?? "").split("\n");
    assert.ok(
      lines.findIndex((line) => line.startsWith("IFS=")) > lines.findIndex((line) => line.includes("set --")),
      "the entry point is chosen before the image's first variable",
    );
  });

  test("gives the arguments after -- to the entry point, and runs -r's program with them instead", () => {
    const script = launchScript("/c", {}, ["./entry", "--flag"]);
    assert.ok(script);
    assert.deepEqual(source(script, ["--entrypoint", "--name", "x", "-r", "--"]).argv, ["./entry", "--flag", "--name", "x", "-r", "--"]);
    assert.deepEqual(source(script, ["--program", "python", "-c", "pass"]).argv, ["python", "-c", "pass"]);
    assert.deepEqual(source(launchScript("/c", {}, []) ?? "", ["--entrypoint", "a"]).argv, ["./run", "a"]);
  });

  test("refuses (so Node's run explains) a container that is not where it was made, or whose relocation is unfinished", () => {
    const made = launchScript("/c", {}, []);
    assert.ok(made);
    const elsewhere = fs.mkdtempSync(path.join(HERE, "launch-"));
    try {
      assert.throws(() => source(made, ["--entrypoint"], undefined, elsewhere), /refused/);
      const there = writeLaunchScript(elsewhere, {}, [], elsewhere);
      assert.ok(there);
      assert.deepEqual(source(there, ["--entrypoint"], undefined, elsewhere).argv, ["./run"]);
      fs.mkdirSync(path.join(elsewhere, ".pypakr", "relocating"), { recursive: true });
      assert.throws(() => source(there, ["--entrypoint"], undefined, elsewhere), /refused/);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  test("is not written when the shell cannot express the environment (Node's run serves it)", () => {
    assert.equal(launchScript("/c", { "NOT-A-NAME": "x" }, []), null);
    assert.equal(launchScript("/c", { "A;id": "x" }, []), null);
    assert.equal(launchScript("/c", { A: "nul\0byte" }, []), null);
    assert.equal(launchScript("/c", {}, ["nul\0"]), null);
  });

  test("the image schema refuses what the launch file could not express, so that fallback is never needed", () => {
    const config = (environment: Record<string, string>, entrypoint: string[]) => pypakrConfigSchema.shape.environment.safeParse(environment).success && pypakrConfigSchema.shape.entrypoint.safeParse(entrypoint).success;
    assert.equal(config({ NOT_A_PROBLEM: "x", _x1: "" }, ["./run"]), true);
    for (const [environment, entrypoint] of [[{ "NOT-A-NAME": "x" }, []], [{ "A;id": "x" }, []], [{ "1A": "x" }, []], [{ "": "x" }, []], [{ A: "nul\0byte" }, []], [{}, ["nul\0"]]] as const) {
      assert.equal(config(environment, [...entrypoint]), false, JSON.stringify([environment, entrypoint]));
      assert.equal(launchScript("/c", environment, [...entrypoint]), null);
    }
  });
});
