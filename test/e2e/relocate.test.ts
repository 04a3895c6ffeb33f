// test-stream: beside-unit
/**
 * Moved and copied containers (issue 10, item 1): a container knows where it
 * was made; `run` refuses it elsewhere on both paths (the shell launcher and
 * Node), naming both paths and the fix; `relocate -c` rewrites it in place,
 * safely against a kill; `verify -c` says it moved.
 *
 * The image has a console script (shebang naming the venv), 600 text files
 * and a binary file naming the venv's path (so relocate has work to be killed
 * in, and a binary file cannot take a longer path).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import { CLI, cliEnv, type CliResult, expectCleanFailure, expectOk, JOKE, makeJokesSource, pypakr, sh, tarDirectory, usePrivateHome, writeExecutable } from "../support/helpers.js";

const MANY = 600;
const PREFIX_PROBE = "import sys; print(sys.prefix)";

let image: string;
const own = usePrivateHome({
  prefix: "pypakr-relocate-",
  setup: async () => {
    const source = await makeJokesSource(path.join(own.dir, "src"));
    await writeExecutable(
      path.join(source, "setup"),
      [
        "#!/bin/sh",
        "set -e",
        "pip install --no-index --find-links packages jokes-cli",
        'mkdir -p "$VIRTUAL_ENV/share/many"',
        "i=0",
        `while [ $i -lt ${MANY} ]; do echo "$VIRTUAL_ENV/bin/python" > "$VIRTUAL_ENV/share/many/f$i"; i=$((i+1)); done`,
        `printf 'head\\000%s/lib/libx.so\\000tail' "$VIRTUAL_ENV" > "$VIRTUAL_ENV/share/paths.bin"`,
        "",
      ].join("\n"),
    );
    image = path.join(own.dir, "image.tar");
    expectOk(await cli(["create-image", "-s", tarDirectory(source, path.join(own.dir, "src.tar")), "-i", image]), "create-image");
  },
});

const cli = (args: string[]) => pypakr(args, { home: own.home });

async function makeContainer(at: string): Promise<string> {
  await fs.mkdir(path.dirname(at), { recursive: true });
  expectOk(await cli(["create-container", "-i", image, "-c", at]), "create-container");
  return at;
}

function move(from: string, to: string): string {
  const moved = sh(`mkdir -p "$(dirname "$2")" && mv "$1" "$2"`.replace(/\$1/g, JSON.stringify(from)).replace(/\$2/g, JSON.stringify(to)));
  assert.equal(moved.code, 0, moved.stderr);
  return to;
}

/** The two ways into run: `-c DIR` takes the shell launcher's fast path, `-cDIR` is a form it leaves to Node. */
function forms(container: string): { name: string; args: string[] }[] {
  return [
    { name: "launcher", args: ["-c", container] },
    { name: "Node", args: [`-c${container}`] },
  ];
}

function runPython(containerArgs: string[], code = PREFIX_PROBE): Promise<CliResult> {
  return cli(["run", ...containerArgs, "-r", "python", "--", "-c", code]);
}

async function expectRefusedAsMoved(container: string, madeAt: string): Promise<void> {
  for (const form of forms(container)) {
    const result = await runPython(form.args);
    expectCleanFailure(result, /moved or copied/);
    assert.equal(result.stdout, "", `${form.name}: nothing ran`);
    assert.ok(result.stderr.includes(container) && result.stderr.includes(madeAt), `${form.name} names both paths:\n${result.stderr}`);
    assert.ok(result.stderr.includes(`pypakr relocate -c ${container}`), `${form.name} names the fix:\n${result.stderr}`);
  }
}

/** Runs its own interpreter and its console script, on both paths, and verifies clean. */
async function expectWorking(container: string, options: { verify: boolean } = { verify: true }): Promise<void> {
  for (const form of forms(container)) {
    assert.equal(expectOk(await runPython(form.args), `${form.name}: run python`).stdout, `${container}\n`, `${form.name}: sys.prefix`);
    const joked = expectOk(await cli(["run", ...form.args, "--", "a"]), `${form.name}: run the entry point (a console script)`);
    assert.equal(joked.stdout, `${JOKE}\nargs: a\n`);
    assert.equal(expectOk(await cli(["run", ...form.args, "-r", "joke"]), `${form.name}: run -r joke`).stdout, `${JOKE}\nargs: \n`);
  }
  if (options.verify) expectOk(await cli(["verify", "-c", container]), "verify -c");
  assert.equal(existsSync(path.join(container, ".pypakr", "relocating")) || existsSync(path.join(container, ".pypakr", "relocating.tmp")), false, "no relocation left behind");
}

/** Every entry of a tree: type, mode, content hash or link target. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  const walk = async (at: string, relative: string): Promise<void> => {
    for (const name of (await fs.readdir(at)).sort()) {
      const full = path.join(at, name);
      const rel = relative ? `${relative}/${name}` : name;
      const stat = await fs.lstat(full);
      if (stat.isDirectory()) {
        entries.set(rel, `dir ${stat.mode}`);
        await walk(full, rel);
      } else if (stat.isSymbolicLink()) entries.set(rel, `link ${await fs.readlink(full)}`);
      else entries.set(rel, `file ${stat.mode} ${stat.ino} ${createHash("sha256").update(await fs.readFile(full)).digest("hex")}`);
    }
  };
  await walk(root, "");
  return entries;
}

async function indexedContainers(): Promise<Record<string, string>> {
  const index = JSON.parse(await fs.readFile(path.join(own.home, "store", "index.json"), "utf8")) as { containers: Record<string, string> };
  return index.containers;
}

describe("moved and copied containers", () => {
  test("a moved container: run refuses it on both paths, verify says moved, relocate makes it run its own Python", async () => {
    const made = await makeContainer(path.join(own.dir, "made", "container-with-a-long-name"));
    const moved = move(made, path.join(own.dir, "elsewhere", "c2"));
    await expectRefusedAsMoved(moved, made);

    const verified = await cli(["verify", "-c", moved]);
    assert.equal(verified.code, 1);
    assert.match(verified.stdout, new RegExp(`moved from ${made.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}.*pypakr relocate -c`));
    assert.doesNotMatch(verified.stdout, /modified|missing|added/, "relocated files are not reported as modified");

    const relocated = expectOk(await cli(["relocate", "-c", moved]), "relocate");
    assert.match(relocated.stdout, /Relocated .*c2 \(made at .*container-with-a-long-name\): \d+ files rewritten/);
    await expectWorking(moved);
    const indexed = await indexedContainers();
    assert.ok(moved in indexed, "the store keeps the image for the new path");
    assert.ok(!(made in indexed), "and forgets the old path, which holds nothing now");
  });

  test("relocate on a container that has not moved says so and changes nothing", async () => {
    const container = await makeContainer(path.join(own.dir, "still", "c"));
    const before = await snapshot(container);
    const result = expectOk(await cli(["relocate", "-c", container]), "relocate");
    assert.match(result.stdout, /has not moved.*nothing to do/);
    assert.deepEqual(await snapshot(container), before);
  });

  test("a cp -a copy, relocated, and its original each run their own interpreter", async () => {
    const original = await makeContainer(path.join(own.dir, "orig", "c"));
    const copy = path.join(own.dir, "copy", "c");
    const copied = sh(`mkdir -p ${JSON.stringify(path.dirname(copy))} && cp -a ${JSON.stringify(original)} ${JSON.stringify(copy)}`);
    assert.equal(copied.code, 0, copied.stderr);
    // Before: the copy would run the original's interpreter; it is refused instead.
    await expectRefusedAsMoved(copy, original);
    expectOk(await cli(["relocate", "-c", copy]), "relocate the copy");
    await expectWorking(copy);
    await expectWorking(original);
    const indexed = await indexedContainers();
    assert.ok(original in indexed && copy in indexed, "the store keeps the image for both");
  });

  test("a path a binary file cannot hold is refused before anything changes", async () => {
    const made = await makeContainer(path.join(own.dir, "s", "c"));
    const longer = move(made, path.join(own.dir, "s", "a-much-longer-name-than-the-binary-file-has-room-for"));
    const before = await snapshot(longer);
    const result = await cli(["relocate", "-c", longer]);
    expectCleanFailure(result, /share\/paths\.bin is a binary file that names .*; nothing was changed/);
    assert.match(result.stderr, /hint: Move the container to a path of at most \d+ bytes, or make a new container there/);
    assert.deepEqual(await snapshot(longer), before, "the container is as it was");
    move(longer, made);
    await expectWorking(made);
  });

  test("a new path that starts with the old one (/x/c -> /x/cc, and back) is substituted once", async () => {
    let current = await makeContainer(path.join(own.dir, "p", "c"));
    // The binary file could not take the longer path (see above): without it, the text files can.
    await fs.rm(path.join(current, "share", "paths.bin"));
    for (const to of [path.join(own.dir, "p", "cc"), path.join(own.dir, "p", "c")]) {
      current = move(current, to);
      expectOk(await cli(["relocate", "-c", to]), `relocate to ${to}`);
      assert.equal(await fs.readFile(path.join(to, "share", "many", "f7"), "utf8"), `${to}/bin/python\n`);
      assert.match(await fs.readFile(path.join(to, "bin", "joke"), "utf8"), new RegExp(`^#!${to}/bin/python3?\n`));
      await expectWorking(to, { verify: false });
      const verified = await cli(["verify", "-c", to]);
      assert.equal(verified.stdout.split("\n")[0], "missing: share/paths.bin", "nothing but the removed file differs");
    }
  });

  test("relocate killed at any point leaves a container that is refused or right, and a re-run or run finishes it", async (t) => {
    // Same-length names: the binary file cannot take a longer path.
    const at = (n: number) => path.join(own.dir, "kill", `c${String(n).padStart(6, "0")}`);
    let container = await makeContainer(at(0));
    let next = 1;
    const started = Date.now();
    container = move(container, at(next++));
    expectOk(await cli(["relocate", "-c", container]), "a relocate to time");
    const normal = Date.now() - started;

    const staging = () => path.join(container, ".pypakr", "relocating.tmp");
    const journal = () => path.join(container, ".pypakr", "relocating");
    const points: (string | number)[] = ["phase 1 begun", "committed", "committed", ...[0.3, 0.5, 0.7, 0.85, 0.95].map((share) => Math.round(share * normal))];
    const seen = { phase1: 0, committed: 0, before: 0, done: 0 };
    for (const [i, point] of points.entries()) {
      const previous = container;
      container = move(container, at(next++));
      const child = spawn(CLI, ["relocate", "-c", container], { env: cliEnv({ home: own.home }), stdio: "ignore" });
      let exited = false;
      const closed = new Promise<void>((resolve) => child.on("close", () => ((exited = true), resolve())));
      if (typeof point === "number") await new Promise((resolve) => setTimeout(resolve, point));
      else {
        const marker = point === "committed" ? journal() : staging();
        while (!exited && !existsSync(marker)) await new Promise((resolve) => setImmediate(resolve));
      }
      child.kill("SIGKILL");
      await closed;
      if (existsSync(journal())) seen.committed++;
      else if (existsSync(staging())) seen.phase1++;
      else if ((JSON.parse(await fs.readFile(path.join(container, ".pypakr", "container.json"), "utf8")) as { dir?: string }).dir === container) seen.done++;
      else seen.before++;

      // Whatever the point: run never starts the wrong Python. It refuses, or (after the commit) finishes the relocation.
      const ran = await runPython(i % 2 === 0 ? ["-c", container] : [`-c${container}`]);
      if (ran.code === 0) assert.equal(ran.stdout, `${container}\n`, `kill at ${point}: run after it`);
      else {
        expectCleanFailure(ran, /moved or copied/);
        assert.ok(ran.stderr.includes(previous), `kill at ${point}: names the old path`);
      }
      const again = expectOk(await cli(["relocate", "-c", container]), `relocate again after a kill at ${point}`);
      assert.match(again.stdout, /Relocated|has not moved/);
      for (const form of forms(container)) assert.equal(expectOk(await runPython(form.args), `${form.name}: run python`).stdout, `${container}\n`, `after a kill at ${point}`);
    }
    await expectWorking(container);
    t.diagnostic(`a relocate takes ${normal} ms; kills landed: ${JSON.stringify(seen)}`);
    assert.ok(seen.committed >= 1, "at least one kill landed between the commit and the end");
    assert.ok(seen.phase1 >= 1, "at least one kill landed in phase 1");
  });
});
