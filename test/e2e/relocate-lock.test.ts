/**
 * A container's relocation against other pypakr processes: `relocate` holds
 * the container's relocation lock, so a second relocate waits and never
 * interleaves with the first; `run` waits for a relocation under way rather
 * than finishing its journal alongside it; `verify -c` finishes a relocation
 * that was interrupted after it committed, then checks the container as one.
 *
 * A test plays "the other relocate" by holding the lock itself (it is the
 * store's owner-aware lock, taken as pypakr takes it), so each wait is
 * observed for certain rather than by the luck of timing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { acquireLock } from "../../src/store/lock.js";
import { CLI, cliEnv, expectOk, makeJokesSource, makeTempDir, privateHome, pypakr, removeDir, sh, tarDirectory, writeExecutable, type CliResult } from "../support/helpers.js";

const MANY = 600;
/** Long enough for a relocate that ignored the lock to have finished (one takes well under a second here). */
const WAIT_MS = 2500;

let dir: string;
let home: string;
let image: string;
let paths = 0;

const cli = (args: string[]) => pypakr(args, { home });

before(async () => {
  dir = await makeTempDir("pypakr-relocate-lock-");
  home = await privateHome(dir);
  const source = await makeJokesSource(path.join(dir, "src"));
  // Many files naming the venv, so a relocate can be killed between its commit and its end.
  await writeExecutable(
    path.join(source, "setup"),
    ["#!/bin/sh", "set -e", "pip install --no-index --find-links packages jokes-cli", 'mkdir -p "$VIRTUAL_ENV/share/many"', "i=0", `while [ $i -lt ${MANY} ]; do echo "$VIRTUAL_ENV/bin/python" > "$VIRTUAL_ENV/share/many/f$i"; i=$((i+1)); done`, ""].join("\n"),
  );
  image = path.join(dir, "image.tar");
  expectOk(await cli(["create-image", "-s", tarDirectory(source, path.join(dir, "src.tar")), "-i", image]), "create-image");
});
after(() => removeDir(dir));

/** A fresh path of the same length each time (c000001, c000002, ...). */
const nextPath = () => path.join(dir, "at", `c${String(++paths).padStart(6, "0")}`);

async function makeMovedContainer(): Promise<{ made: string; moved: string }> {
  const made = nextPath();
  await fs.mkdir(path.dirname(made), { recursive: true });
  expectOk(await cli(["create-container", "-i", image, "-c", made]), "create-container");
  return { made, moved: move(made, nextPath()) };
}

function move(from: string, to: string): string {
  const moved = sh(`mv ${JSON.stringify(from)} ${JSON.stringify(to)}`);
  assert.equal(moved.code, 0, moved.stderr);
  return to;
}

const journalOf = (container: string) => path.join(container, ".pypakr", "relocating");
const stagingOf = (container: string) => path.join(container, ".pypakr", "relocating.tmp");
/** Where pypakr keeps a container's relocation lock (src/container/relocation-journal.ts). */
const holdLock = (container: string) => acquireLock(path.join(container, ".pypakr", "relocation.lock"), 5000);

async function recordedDir(container: string): Promise<string | undefined> {
  return (JSON.parse(await fs.readFile(path.join(container, ".pypakr", "container.json"), "utf8")) as { dir?: string }).dir;
}

/** A CLI run in the background: whether it has ended yet, and its result. */
function start(args: string[]): { ended: () => boolean; result: Promise<CliResult> } {
  const child = spawn(CLI, args, { env: cliEnv({ home }), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let ended = false;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const result = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => ((ended = true), resolve({ code, signal, stdout, stderr }))));
  return { ended: () => ended, result };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A moved container whose relocate was killed after it committed: its journal is there, its record still names the old path. */
async function interruptedRelocation(): Promise<{ made: string; container: string }> {
  let { made, moved: container } = await makeMovedContainer();
  for (let attempt = 0; attempt < 30; attempt++) {
    const child = spawn(CLI, ["relocate", "-c", container], { env: cliEnv({ home }), stdio: "ignore" });
    let exited = false;
    const closed = new Promise<void>((resolve) => child.on("close", () => ((exited = true), resolve())));
    while (!exited && !existsSync(journalOf(container))) await new Promise((resolve) => setImmediate(resolve));
    child.kill("SIGKILL");
    await closed;
    if (existsSync(journalOf(container)) && (await recordedDir(container)) === made) return { made, container };
    // Missed: finish it, and try again from another path.
    expectOk(await cli(["relocate", "-c", container]), "relocate after a missed kill");
    made = container;
    container = move(container, nextPath());
  }
  throw new Error("no kill landed between a relocate's commit and its end in 30 tries");
}

async function expectRunsAt(container: string): Promise<void> {
  for (const form of [["-c", container], [`-c${container}`]]) {
    const ran = expectOk(await cli(["run", ...form, "-r", "python", "--", "-c", "import sys; print(sys.prefix)"]), "run python");
    assert.equal(ran.stdout, `${container}\n`);
  }
}

describe("relocation against concurrent pypakr processes", () => {
  test("relocate waits while another process relocates the same container, then finds its own work", async () => {
    const { made, moved } = await makeMovedContainer();
    const release = await holdLock(moved);
    const relocate = start(["relocate", "-c", moved]);
    try {
      await sleep(WAIT_MS);
      assert.equal(relocate.ended(), false, "relocate waits for the lock");
      assert.equal(await recordedDir(moved), made, "and has changed nothing meanwhile");
      assert.ok(!existsSync(stagingOf(moved)) && !existsSync(journalOf(moved)), "not even staged anything");
    } finally {
      await release();
    }
    const result = expectOk(await relocate.result, "relocate after the lock is free");
    assert.match(result.stdout, /Relocated /);
    assert.match(result.stderr, /waiting for another pypakr process to finish relocating/);
    await expectRunsAt(moved);
  });

  test("two relocates at once: one relocates, the other waits and finds nothing left to do", async () => {
    const { moved } = await makeMovedContainer();
    const results = await Promise.all([start(["relocate", "-c", moved]).result, start(["relocate", "-c", moved]).result]);
    for (const result of results) expectOk(result, "a concurrent relocate");
    assert.deepEqual(results.map((result) => (/Relocated /.test(result.stdout) ? "relocated" : /has not moved/.test(result.stdout) ? "nothing to do" : result.stdout)).sort(), ["nothing to do", "relocated"]);
    expectOk(await cli(["verify", "-c", moved]), "verify -c");
    await expectRunsAt(moved);
  });

  test("run waits for a relocation under way instead of finishing its journal alongside it, then runs the relocated container", async () => {
    const { container } = await interruptedRelocation();
    const release = await holdLock(container);
    const run = start(["run", `-c${container}`, "-r", "python", "--", "-c", "import sys; print(sys.prefix)"]);
    try {
      await sleep(WAIT_MS);
      assert.equal(run.ended(), false, "run waits for the lock");
      assert.ok(existsSync(journalOf(container)), "and leaves the journal to its holder meanwhile");
    } finally {
      await release();
    }
    const result = expectOk(await run.result, "run after the lock is free");
    assert.equal(result.stdout, `${container}\n`);
    assert.ok(!existsSync(journalOf(container)));
  });

  test("verify -c finishes an interrupted relocation, says so, and then finds the container as made", async () => {
    const { made, container } = await interruptedRelocation();
    const verified = expectOk(await cli(["verify", "-c", container]), "verify -c of a half-relocated container");
    assert.ok(verified.stderr.includes(`finished relocating ${container} from ${made}`), verified.stderr);
    assert.doesNotMatch(verified.stdout, /modified|missing|added|moved/);
    assert.ok(!existsSync(journalOf(container)), "the journal is gone");
    assert.equal(await recordedDir(container), container);
    await expectRunsAt(container);
  });
});
