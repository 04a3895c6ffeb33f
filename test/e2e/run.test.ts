/** `pypakr run` passes arguments, streams, exit codes and signals through, like running the program directly. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, cliEnv, expectCleanFailure, expectOk, makeTempDir, pypakr, removeDir, writeExecutable } from "../support/helpers.js";
import { imageParts, writeImage } from "../support/image-files.js";

describe("pypakr run", () => {
  let dir: string;
  let container: string;

  before(async () => {
    dir = await makeTempDir();
    const source = path.join(dir, "src");
    await writeExecutable(path.join(source, "run"), '#!/bin/sh\necho "run: $*"\n');
    await writeExecutable(path.join(source, "scripts", "fail"), "#!/bin/sh\necho failing >&2\nexit 7\n");
    await fs.writeFile(path.join(source, "plain.txt"), "not a script", { mode: 0o644 });
    const image = path.join(dir, "image.tar");
    expectOk(await pypakr(["create-image", "-s", source, "-i", image, "-e", "GREETING=hello there", "-e", "EMPTY="]), "create-image");
    container = path.join(dir, "container");
    expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");
  });
  after(() => removeDir(dir));

  test("runs ./run by default, in the container, with its venv active and the image's environment", async () => {
    assert.equal(expectOk(await pypakr(["run", "-c", container]), "run").stdout, "run: \n");
    assert.equal(expectOk(await pypakr(["run", "-c", container, "-r", "./run", "--", "a", "b"]), "run").stdout, "run: a b\n");
    const probe = "import os, sys; print(os.getcwd()); print(sys.prefix); print(os.environ['VIRTUAL_ENV']); print(os.environ['PATH'].split(':')[0]); print(os.environ['GREETING'])";
    const result = expectOk(await pypakr(["run", "-c", container, "-r", "python", "--", "-c", probe]), "run python");
    assert.deepEqual(result.stdout.trim().split("\n"), [container, container, container, path.join(container, "bin"), "hello there"]);
  });

  test("the launcher runs the program in its own process, with the same result as Node's run", async () => {
    const probe = "import os; print(os.getpid()); print(os.getcwd()); print(os.environ['VIRTUAL_ENV']); print(os.environ['PATH'].split(':')[0]); print(os.environ['GREETING'])";
    const run = (containerOption: string[]) =>
      new Promise<{ pid: number | undefined; lines: string[] }>((resolve, reject) => {
        const child = spawn(CLI, ["run", ...containerOption, "-r", "python", "--", "-c", probe], { env: cliEnv(), stdio: ["ignore", "pipe", "inherit"] });
        let stdout = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
        child.on("error", reject);
        child.on("close", () => resolve({ pid: child.pid, lines: stdout.trim().split("\n") }));
      });
    const launched = await run(["-c", container]);
    const viaNode = await run([`-c${container}`]);
    assert.equal(launched.lines[0], String(launched.pid), "exec: the program took the launcher's process");
    assert.notEqual(viaNode.lines[0], String(viaNode.pid), "Node's run spawns a child");
    assert.deepEqual(launched.lines.slice(1), viaNode.lines.slice(1));
    assert.deepEqual(launched.lines.slice(1), [container, container, path.join(container, "bin"), "hello there"]);
  });

  test("a container without a launch file (made by an older pypakr) runs through Node", async () => {
    const older = path.join(dir, "older");
    await fs.cp(container, older, { recursive: true, verbatimSymlinks: true });
    await fs.rm(path.join(older, ".pypakr", "launch-v3.sh"));
    // Nor did its record say where it was made (so it cannot be checked for having moved).
    const recordFile = path.join(older, ".pypakr", "container.json");
    const record = JSON.parse(await fs.readFile(recordFile, "utf8")) as Record<string, unknown>;
    delete record.dir;
    delete record.prompt;
    await fs.writeFile(recordFile, JSON.stringify(record));
    assert.equal(expectOk(await pypakr(["run", "-c", older, "-r", "sh", "--", "-c", 'echo "$GREETING"']), "run").stdout, "hello there\n");
  });

  test("a copied container whose record names a crafted path is refused by run, relocate and verify, printing none of it", async () => {
    const crafted = path.join(dir, "crafted");
    await fs.cp(container, crafted, { recursive: true, verbatimSymlinks: true });
    const recordFile = path.join(crafted, ".pypakr", "container.json");
    const record = JSON.parse(await fs.readFile(recordFile, "utf8")) as Record<string, unknown>;
    for (const made of ["/tmp/x\nEntry point: ./safe", "relative/path", "/tmp/$(touch pwned)"]) {
      await fs.writeFile(recordFile, JSON.stringify({ ...record, dir: made }));
      for (const args of [["run", "-c", crafted], ["relocate", "-c", crafted], ["verify", "-c", crafted]]) {
        const result = await pypakr(args);
        expectCleanFailure(result, /container\.json.*dir: (contains a line break|is not an absolute path|contains a dollar sign)/s);
        assert.doesNotMatch(result.stderr, /^Entry point/m, `${args[0]} printed the record's text as a line of its own`);
        assert.match(result.stderr, /create-container .*--force/, args[0]);
      }
    }
  });

  test("arguments after -- go to the entry point (as docker run IMAGE ARGS), options and all, on both paths", async () => {
    // `-cDIR` is a form the launcher leaves to Node.
    for (const form of [["-c", container], [`-c${container}`]]) {
      const ran = expectOk(await pypakr(["run", ...form, "--", "--name", "x", "-r", "--", "-c"]), `run ${form.join(" ")} -- ARGS`);
      assert.equal(ran.stdout, "run: --name x -r -- -c\n", form.join(" "));
      const program = expectOk(await pypakr(["run", ...form, "-r", "python", "--", "-c", "import sys; print(sys.argv[1:])", "--name", "x"]), "run -r python -- -c ...");
      assert.equal(program.stdout, "['--name', 'x']\n", form.join(" "));
    }
  });

  test("an image's own entry point gets the arguments after its own words, on both paths", async () => {
    const parts = await imageParts(path.join(dir, "image.tar"));
    parts.config.pypakr.entrypoint = ["./run", "--flag"];
    const variant = path.join(dir, "entrypoint.tar");
    await writeImage(variant, parts);
    const withEntry = path.join(dir, "with-entrypoint");
    expectOk(await pypakr(["create-container", "-i", variant, "-c", withEntry]), "create-container");
    for (const form of [["-c", withEntry], [`-c${withEntry}`]]) {
      assert.equal(expectOk(await pypakr(["run", ...form]), "run").stdout, "run: --flag\n");
      assert.equal(expectOk(await pypakr(["run", ...form, "--", "--name", "x"]), "run").stdout, "run: --flag --name x\n");
      assert.equal(expectOk(await pypakr(["run", ...form, "-r", "./run", "--", "y"]), "run -r").stdout, "run: y\n");
    }
  });

  test("run -i FILE -- ARGS and run -i REF -- ARGS pass ARGS to the entry point", async () => {
    const fromFile = path.join(dir, "from-file");
    assert.equal(expectOk(await pypakr(["run", "-i", path.join(dir, "image.tar"), "-c", fromFile, "--", "--name", "x"]), "run -i FILE").stdout, "run: --name x\n");
    const { image } = JSON.parse(await fs.readFile(path.join(fromFile, ".pypakr", "container.json"), "utf8")) as { image: { digest: string } };
    const fromRef = path.join(dir, "from-ref");
    assert.equal(expectOk(await pypakr(["run", "-i", image.digest, "-c", fromRef, "--", "--name", "y"]), "run -i DIGEST").stdout, "run: --name y\n");
    assert.equal(expectOk(await pypakr(["run", "-i", image.digest, "-c", fromRef, "-r", "python", "--", "-c", "print('py')"]), "run -i DIGEST -r").stdout, "py\n");
  });

  test("passes the exit code and stderr of a failing script", async () => {
    const result = await pypakr(["run", "-c", container, "-r", "scripts/fail"]);
    assert.equal(result.code, 7);
    assert.equal(result.stderr, "failing\n");
  });

  test("passes standard input through", async () => {
    const result = expectOk(await pypakr(["run", "-c", container, "-r", "python", "--", "-c", "import sys; print(sys.stdin.read().upper())"], { input: "shout\n" }), "run");
    assert.equal(result.stdout, "SHOUT\n\n");
  });

  /** Runs `program` (Python) through pypakr run, sends `signal` to pypakr once it prints "ready". */
  async function signalWhenReady(program: string, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string }> {
    const child = spawn(CLI, ["run", "-c", container, "-r", "python", "--", "-c", program], { env: cliEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    const ready = new Promise<void>((resolve) =>
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
        if (stdout.includes("ready")) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await ready;
    child.kill(signal);
    return { code: await exited, stdout };
  }

  test("passes SIGTERM to the program and leaves with its exit code", async () => {
    const program = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: (print('got SIGTERM', flush=True), sys.exit(3)))\nprint('ready', flush=True)\ntime.sleep(60)";
    const { code, stdout } = await signalWhenReady(program, "SIGTERM");
    assert.equal(code, 3);
    assert.match(stdout, /got SIGTERM/);
  });

  test("passes SIGINT sent to pypakr (no terminal) to the program", async () => {
    // "ready" is printed inside the try, so a SIGINT that comes at once still lands in it.
    const program = "import time\ntry:\n    print('ready', flush=True)\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n    raise SystemExit(4)";
    const { code, stdout } = await signalWhenReady(program, "SIGINT");
    assert.equal(code, 4);
    assert.match(stdout, /interrupted/);
  });

  test("a program killed by a signal ends pypakr run by the same signal, on both paths", async () => {
    const direct = await pypakr(["run", "-c", container, "-r", "sh", "--", "-c", "kill -KILL $$"]);
    assert.deepEqual([direct.code, direct.signal], [null, "SIGKILL"]);
    // `-cDIR` is a form the launcher leaves to Node.
    const viaNode = await pypakr(["run", `-c${container}`, "-r", "sh", "--", "-c", "kill -TERM $$"]);
    assert.deepEqual([viaNode.code, viaNode.signal], [null, "SIGTERM"]);
  });

  test("refuses a missing container, a directory that is not one, a missing or non-executable script, an unknown command", async () => {
    const cases: [string[], number, RegExp][] = [
      [["run", "-c", path.join(dir, "nope")], 1, /does not exist/],
      [["run", "-c", dir], 1, /not a pypakr container/],
      [["run", "-c", container, "-r", "./missing"], 127, /does not exist in container/],
      [["run", "-c", container, "-r", "./plain.txt"], 126, /not executable|chmod/],
      [["run", "-c", container, "-r", "no-such-command-xyz"], 127, /not found/],
    ];
    for (const [args, code, message] of cases) {
      const result = await pypakr(args);
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /hint:/);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace without --debug");
    }
  });
});
