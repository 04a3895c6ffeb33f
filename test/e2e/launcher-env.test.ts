/**
 * The `pypakr` launcher (src/cli/pypakr.sh) sources a container's launch file,
 * which sets the image's environment in the launcher's own shell. An image
 * variable named `mode` once made `pypakr run` start the entry point twice
 * (mode=exec) or not at all (mode=check). No image variable may change what
 * the launcher does: each variation here must run the program exactly once,
 * the one asked for, in the launcher's own process (so the shell path, not
 * Node's, is what is tested).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, cliEnv, expectCleanFailure, expectOk, makeTempDir, pypakr, removeDir, writeExecutable } from "../support/helpers.js";
import { imageParts, writeImage } from "../support/image-files.js";

/** Image environments that once steered the launcher, or could: its own variable names, and the shell's. */
const VARIATIONS: Record<string, string>[] = [
  { mode: "exec" },
  { mode: "check" },
  { container: "/tmp/x" },
  { IFS: "/" },
  { IFS: "1" },
  { IFS: "0123456789-" },
  { has_script: "1" },
  { script: "./evil" },
  { has_script: "1", script: "./evil", mode: "exec" },
  { here: "/tmp", OPTIND: "5", CDPATH: "/" },
  { finish: "launch_exec", launch_check: "x", launch_exec: "y" },
];

describe("the launcher ignores the image's environment", () => {
  let dir: string;
  let log: string;
  let image: string;

  before(async () => {
    dir = await makeTempDir();
    log = path.join(dir, "runs.log");
    const source = path.join(dir, "src");
    // Each program appends one line naming itself, its arguments and its pid.
    await writeExecutable(path.join(source, "run"), `#!/bin/sh\necho "run $$ $*" >> '${log}'\n`);
    await writeExecutable(path.join(source, "evil"), `#!/bin/sh\necho "evil $$ $*" >> '${log}'\n`);
    image = path.join(dir, "image.tar");
    expectOk(await pypakr(["create-image", "-s", source, "-i", image, "-e", "mode=exec", "-e", "GREETING=hi"]), "create-image -e mode=exec");
  });
  after(() => removeDir(dir));

  /** Runs the CLI; resolves to its pid, exit code and what the programs logged meanwhile. */
  async function runLogged(args: string[]): Promise<{ pid: number | undefined; code: number | null; stderr: string; lines: string[] }> {
    await fs.rm(log, { force: true });
    const child = spawn(CLI, args, { cwd: dir, env: cliEnv(), stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (exit) => resolve(exit));
    });
    const text = await fs.readFile(log, "utf8").catch(() => "");
    return { pid: child.pid, code, stderr, lines: text.split("\n").filter(Boolean) };
  }

  async function containerWith(name: string, environment: Record<string, string>): Promise<string> {
    const variant = path.join(dir, `${name}.tar`);
    const parts = await imageParts(image);
    parts.config.pypakr.environment = environment;
    await writeImage(variant, parts);
    const container = path.join(dir, name);
    expectOk(await pypakr(["create-container", "-i", variant, "-c", container]), `create-container (${JSON.stringify(environment)})`);
    return container;
  }

  test("create-image -e mode=exec: run starts the entry point once, in the launcher's process", async () => {
    const container = path.join(dir, "built");
    expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");
    const result = await runLogged(["run", "-c", container, "--", "a"]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.lines, [`run ${result.pid} a`]);
    const byDefault = await runLogged(["run", "-c", container]);
    assert.deepEqual(byDefault.lines, [`run ${byDefault.pid} `]);
  });

  for (const [index, environment] of VARIATIONS.entries()) {
    test(`image environment ${JSON.stringify(environment)}: each form of run starts its program exactly once`, async () => {
      const container = await containerWith(`v${index}`, environment);
      // [command line, program that must run, its arguments]
      const asked: [string[], string, string][] = [
        [["run", "-c", container], "run", ""],
        [["run", "-c", container, "--", "x", "y"], "run", "x y"],
        [["run", "-c", container, "--", "--name", "x"], "run", "--name x"],
        [["run", "-c", container, "-r", "./run", "--", "z"], "run", "z"],
        [["run", "-c", container, "-r", "./evil"], "evil", ""],
        // A relative container path: found from the working directory, whatever CDPATH says.
        [["run", "-c", `v${index}`, "--", "rel"], "run", "rel"],
      ];
      for (const [args, program, programArgs] of asked) {
        const result = await runLogged(args);
        assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
        assert.deepEqual(result.lines, [`${program} ${result.pid} ${programArgs}`], args.join(" "));
      }
    });
  }

  test("an image whose environment no shell can hold is refused with a clear message, not an internal error", async () => {
    const cases: [Record<string, string> | null, string[] | null, RegExp][] = [
      [{ "NOT-A-NAME": "x" }, null, /its config is malformed: pypakr\.environment\.NOT-A-NAME: is not an environment variable name/],
      [{ "1ST": "x" }, null, /pypakr\.environment\.1ST: is not an environment variable name/],
      [{ GREETING: "nul\0byte" }, null, /its config is malformed: pypakr\.environment\.GREETING: must not contain a NUL character/],
      [null, ["./run", "nul\0byte"], /its config is malformed: pypakr\.entrypoint\.1: must not contain a NUL character/],
    ];
    for (const [index, [environment, entrypoint, message]] of cases.entries()) {
      const variant = path.join(dir, `bad-${index}.tar`);
      const parts = await imageParts(image);
      if (environment) parts.config.pypakr.environment = environment;
      if (entrypoint) parts.config.pypakr.entrypoint = entrypoint;
      await writeImage(variant, parts);
      const container = path.join(dir, `bad-${index}`);
      for (const args of [["create-container", "-i", variant, "-c", container], ["load", "-i", variant]]) {
        const result = await pypakr(args);
        expectCleanFailure(result, message);
        assert.match(result.stderr, /is not a usable pypakr image/);
      }
      await assert.rejects(fs.lstat(container), "no container was made");
    }
  });

  test("create-image refuses an environment variable name no shell can hold", async () => {
    const source = path.join(dir, "src");
    for (const bad of ["NOT-A-NAME=x", "1ST=x", "A B=x"]) {
      const result = await pypakr(["create-image", "-s", source, "-i", path.join(dir, "never.tar"), "-e", bad]);
      expectCleanFailure(result, /is not KEY=VALUE/);
      assert.equal(result.code, 2);
    }
    await assert.rejects(fs.lstat(path.join(dir, "never.tar")));
  });
});
