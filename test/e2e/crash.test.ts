/**
 * Fault injection: pypakr SIGKILLed at many points of `create-image`,
 * `create-container`, `pull` (real registry: starts Debian's docker-registry
 * on 127.0.0.1), `load` and `gc`. For each command, one normal run is timed,
 * then RUNS runs are killed at delays spread evenly over that time (plus
 * jitter), so early, middle and late points are all hit. After every kill:
 *
 * - the target (container dir, image file, -o archive) is absent or complete
 *   (a container that runs, an image that inspects);
 * - the store verifies clean;
 * - what the killed runs left beside the target is hidden and named after a
 *   dead process (so the next command removes it), and after the series the
 *   same command, run again, succeeds and leaves nothing behind at all.
 *
 * A normal run is timed again every RECALIBRATE_EVERY runs, since other tests
 * (and this file's create-image series, which runs beside the others) change
 * the load. The per-run checks call the same code as `pypakr store verify` and
 * `pypakr inspect` in this process (a node start-up each would triple the
 * file's time); the real commands run every VERIFY_EVERY runs and at the end.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { inspectImage } from "../../src/image/inspect.js";
import { removeImages } from "../../src/store/gc.js";
import { addImageArchive } from "../../src/store/images.js";
import { unpackLayer } from "../../src/store/layers.js";
import { PARTIAL_LOCK_STALE_MS, Store, type StoreIndex } from "../../src/store/store.js";
import { verifyStore } from "../../src/store/verify.js";
import { buildJokesImage, CLI, cliEnv, expectOk, JOKE, makeJokesSource, makeTempDir, privateHome, pypakr, removeDir, tarDirectory, homeSharingBases } from "../support/helpers.js";
import { requireBinaries, startRegistry, type Registry } from "../support/registry.js";

const RUNS = 50;
const VERIFY_EVERY = 10;
const RECALIBRATE_EVERY = 10;
/**
 * Hang guards for a series (create-image's gets twice this): generous, since
 * a slow disk or a busy machine stretches every run (create-image's 50 runs
 * once took 180 s alone, and over 300 s beside other test runs).
 */
const SERIES_TIMEOUT_MS = 300_000;

let dir: string;
let home: string;
let image: string;
let source: string;

before(async () => {
  dir = await makeTempDir("pypakr-crash-");
  home = await privateHome(dir);
  image = await buildJokesImage(dir, { home });
  source = path.join(dir, "jokes.tar");
});
after(() => removeDir(dir));

/** Another pypakr home sharing the machine's base, with a store of its own. */
function otherHome(name: string): Promise<string> {
  return homeSharingBases(home, path.join(dir, name));
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

function storeOf(storeHome: string): Store {
  return new Store(path.join(storeHome, "store"));
}

async function readIndex(storeHome: string): Promise<StoreIndex> {
  return storeOf(storeHome).readIndex();
}

/** Untags `tag` and frees what it held, as pypakr rmi does (in this process: setup, not under test). */
async function untag(storeHome: string, tag: string): Promise<void> {
  const digest = (await readIndex(storeHome)).tags[tag];
  if (digest) await removeImages(storeOf(storeHome), [{ ref: tag, digest: digest as `sha256:${string}`, isTag: true }], true);
}

async function storeClean(storeHome: string, what: string, viaCli: boolean): Promise<void> {
  if (viaCli) {
    const verified = expectOk(await pypakr(["store", "verify"], { home: storeHome }), `store verify ${what}`);
    assert.match(verified.stdout, /the store is clean/, `store verify ${what}`);
    return;
  }
  if (!(await exists(path.join(storeHome, "store")))) return;
  const result = await verifyStore(new Store(path.join(storeHome, "store")), { repair: false });
  assert.deepEqual(result.problems, [], `store verify ${what}`);
}

/** The image file is absent or a whole image. */
async function imageAbsentOrComplete(file: string, what: string): Promise<boolean> {
  if (!(await exists(file))) return false;
  const inspected = await inspectImage(file, path.join(dir, "inspect-tmp"), null).catch((error: Error) => assert.fail(`${what}: ${file} is there but does not inspect: ${error.message}`));
  assert.equal(inspected.layers.length, 3, what);
  return true;
}

/** The container is absent or one that runs. */
async function containerAbsentOrComplete(container: string, what: string): Promise<boolean> {
  if (!(await exists(container))) return false;
  const ran = await pypakr(["run", "-c", container], { home });
  assert.ok(ran.code === 0 && ran.stdout.startsWith(JOKE), `${what}: ${container} is there but does not run: ${ran.stderr}`);
  return true;
}

/**
 * Hidden leftovers beside `target` (`.NAME.PURPOSE-PID-RANDOM`): each must
 * name a process that is dead (one this series killed), so the next pypakr
 * that writes there knows to remove it; anything else visible is a bug.
 */
async function checkSiblings(target: string, killed: Set<number>, what: string, allowed: "dead" | "none"): Promise<void> {
  const base = path.basename(target);
  for (const name of await fs.readdir(path.dirname(target))) {
    if (name === base || !name.includes(base)) continue;
    const match = /^\.(.+)\.([a-z]+)-(\d+)-[0-9a-f]{12}$/.exec(name);
    assert.ok(match && match[1] === base, `${what}: a stray ${name} beside ${target}`);
    assert.ok(allowed === "dead", `${what}: ${name} is still beside ${target}`);
    assert.ok(killed.has(Number(match[3])), `${what}: ${name} does not name a process that was killed`);
  }
}

/** Entries of a dir (empty when it is absent), for the "nothing left behind" checks. */
async function entries(dirPath: string): Promise<string[]> {
  return (await fs.readdir(dirPath).catch(() => [] as string[])).sort();
}

interface Series {
  /** The pypakr home the command works in. */
  home: string;
  /** The command's arguments for run `i` (-1: the timed normal run; RUNS: the run after the series). */
  args(i: number): string[];
  /** Puts things as run `i` should find them (not timed). */
  prepare(i: number): Promise<void>;
  /** The target, when it is a path beside which temporary files may appear. */
  target?: (i: number) => string;
  /** Asserts the target is absent or complete; returns whether it is there. */
  check(i: number, what: string): Promise<boolean>;
}

interface Outcome {
  duration: number;
  killed: number;
  finished: number;
  present: number;
  /** How far the killed runs got, by their last progress line: "running setup" -> runs. */
  reached: Map<string, number>;
}

/**
 * The process groups of `pid`'s children: create-image runs setup and pip as
 * groups of their own (src/util/process-group.ts), which a kill of pypakr's
 * group does not reach.
 */
function childGroups(pid: number): number[] {
  const tasks = (() => {
    try {
      return readdirSync(`/proc/${pid}/task`);
    } catch {
      return [];
    }
  })();
  return tasks.flatMap((task) => {
    try {
      return readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

/**
 * Runs pypakr and SIGKILLs it after `delay` ms. What it started (create-image's
 * setup and pip, in their own groups) dies with it, as in a kill of the whole
 * cgroup: an orphaned pip would otherwise run on for a second, slowing the next
 * run on a small machine. pypakr is stopped first, so it starts nothing new
 * while its children's groups are found and killed.
 */
/** SIGKILLs a run and everything it started: stopped first, so it cannot start more while its groups die. */
function killRun(child: ChildProcess): void {
  const pid = child.pid ?? 0;
  try {
    process.kill(pid, "SIGSTOP");
    for (const group of childGroups(pid)) {
      try {
        process.kill(-group, "SIGKILL");
      } catch {
        // Not a group leader, or gone already.
      }
    }
  } catch {
    // pypakr is gone already.
  }
  child.kill("SIGKILL");
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // The group is gone already.
  }
}

/** Runs pypakr and SIGKILLs it `after` ms (a number), or as soon as `after()` says so (polled every millisecond or so). */
function runKilledAfter(args: string[], runHome: string, after: number | (() => boolean)): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, args, { env: cliEnv({ home: runHome }), cwd: dir, stdio: ["ignore", "ignore", "pipe"], detached: true });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer =
      typeof after === "number"
        ? setTimeout(() => killRun(child), after)
        : setInterval(() => {
            if (!after()) return;
            clearInterval(timer);
            killRun(child);
          }, 1);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearInterval(timer);
      resolve({ code, signal, stderr, pid: child.pid ?? 0 });
    });
  });
}

/** The last progress line, without paths, digests and numbers: where a killed run was. */
function lastStep(stderr: string): string {
  const steps = stderr.split("\n").filter((line) => line.startsWith("pypakr: "));
  const last = steps.at(-1);
  return last ? last.slice(8).replace(/\/\S*|sha256:\S*|\d+/g, "").replace(/\s+/g, " ").trim().split(" ").slice(0, 3).join(" ") : "(nothing yet)";
}

async function timedRun(name: string, series: Series, i: number): Promise<number> {
  await series.prepare(i);
  const started = performance.now();
  expectOk(await pypakr(series.args(i), { home: series.home, cwd: dir }), name);
  const duration = performance.now() - started;
  assert.ok(await series.check(i, name), `${name} made no target`);
  return duration;
}

async function killSeries(t: TestContext, name: string, series: Series): Promise<Outcome> {
  const seriesStarted = performance.now();
  // A normal run's time as the series finds things: after a killed run, whose leftovers it clears.
  const first = await timedRun(`${name} (first run)`, series, -1);
  const killedPids = new Set<number>();
  await series.prepare(-1);
  const early = await runKilledAfter(series.args(-1), series.home, first / 2);
  if (early.signal === "SIGKILL") killedPids.add(early.pid);
  let duration = await timedRun(`${name} (timed run)`, series, -1);

  const outcome: Outcome = { duration, killed: 0, finished: 0, present: 0, reached: new Map() };
  const durations = [duration];
  for (let i = 0; i < RUNS; i++) {
    // Timed again now and then, as things are now (the load of other tests, the leftovers a run clears).
    if (i > 0 && i % RECALIBRATE_EVERY === 0) durations.push((duration = await timedRun(`${name} (timed run ${i})`, series, -1)));
    await series.prepare(i);
    // Evenly spaced over the normal run's time (and a little past it), each somewhere in its own slot.
    const delay = (1.1 * duration * (i + Math.random())) / RUNS;
    const what = `${name} killed at ${Math.round(delay)} of ${Math.round(duration)} ms (run ${i})`;
    const result = await runKilledAfter(series.args(i), series.home, delay);
    if (result.signal === "SIGKILL") {
      outcome.killed++;
      killedPids.add(result.pid);
      const step = lastStep(result.stderr);
      outcome.reached.set(step, (outcome.reached.get(step) ?? 0) + 1);
    } else {
      assert.equal(result.code, 0, `${what}: it failed on its own:\n${result.stderr}`);
      outcome.finished++;
    }
    if (await series.check(i, what)) outcome.present++;
    if (series.target) await checkSiblings(series.target(i), killedPids, what, "dead");
    await storeClean(series.home, `after ${what}`, i % VERIFY_EVERY === VERIFY_EVERY - 1);
  }

  // The same command again succeeds, and clears what the killed ones left.
  await series.prepare(RUNS);
  expectOk(await pypakr(series.args(RUNS), { home: series.home, cwd: dir }), `${name} after the kills`);
  assert.ok(await series.check(RUNS, `${name} after the kills`), `${name} after the kills made no target`);
  if (series.target) await checkSiblings(series.target(RUNS), killedPids, `${name} after the kills`, "none");
  await storeClean(series.home, `after ${name} ran again`, true);

  const steps = [...outcome.reached].map(([step, count]) => `${count}× ${step}`).join(", ");
  const line = `${name} (${Math.round((performance.now() - seriesStarted) / 1000)} s): ${RUNS} runs SIGKILLed at 0-110% of a normal run's time (timed at ${durations.map((ms) => Math.round(ms)).join(", ")} ms): ${outcome.killed} killed mid-way, ${outcome.finished} finished first; target present after ${outcome.present}; last progress of the killed: ${steps}`;
  t.diagnostic(line);
  // Most runs must really have died mid-way, or the series tested little.
  assert.ok(outcome.killed >= RUNS * 0.6, line);
  return outcome;
}

/** What the store's and pypakr's tmp dirs hold once a gc has run: nothing a dead process left. */
async function assertNoTemp(storeHome: string, what: string): Promise<void> {
  expectOk(await pypakr(["gc"], { home: storeHome }), `gc ${what}`);
  assert.deepEqual(await entries(path.join(storeHome, "store", "tmp")), [], `store/tmp ${what}`);
  assert.deepEqual(await entries(path.join(storeHome, "tmp")).then((names) => names.filter((n) => n !== "inspect-tmp")), [], `pypakr tmp ${what}`);
  const store = await entries(path.join(storeHome, "store"));
  assert.deepEqual(
    store.filter((name) => name.startsWith(".")),
    [],
    `temporary files in the store dir ${what}`,
  );
}

/*
 * The create-image series (the longest: a build runs pip) runs beside the
 * others, in a pypakr home of its own; the others run one after another.
 */
describe("pypakr SIGKILLed at many points", { concurrency: true }, () => {
  test("create-image -t: the image file is absent or whole; work envs and temp files of killed builds are removed", { timeout: SERIES_TIMEOUT_MS * 2 }, async (t) => {
    const buildHome = await otherHome("build-home");
    const out = path.join(dir, "built");
    await fs.mkdir(out);
    const target = path.join(out, "IMAGE.tar");
    await killSeries(t, "create-image", {
      home: buildHome,
      args: () => ["create-image", "-s", source, "-i", target, "-t", "jokes:1"],
      prepare: () => fs.rm(target, { force: true }),
      target: () => target,
      check: (_i, what) => imageAbsentOrComplete(target, what),
    });
    // The run after the series removed every dead build's work env and scratch dir.
    assert.deepEqual(await entries(path.join(buildHome, "tmp")), [], "pypakr's tmp dir after the series");
    await assertNoTemp(buildHome, "after create-image");
  });

  describe("the other commands", { concurrency: false }, () => {

    test("create-container (from a tag, a file, and --force over an old one): the container is absent or runs", { timeout: SERIES_TIMEOUT_MS }, async (t) => {
      const out = path.join(dir, "containers");
      await fs.mkdir(out);
      const target = path.join(out, "CONT");
      await killSeries(t, "create-container", {
        home,
        // Even runs make a new container; odd ones replace a complete one with --force.
        args: (i) => ["create-container", "-i", i % 4 < 2 ? "jokes:1" : image, "-c", target, ...(i % 2 === 1 ? ["--force"] : [])],
        prepare: async (i) => {
          if (i % 2 === 0 || i < 0) {
            // A new container on a clean path: a --force run killed between its two renames leaves the old
            // container beside the path, which the next create-container puts back (and then, without
            // --force, refuses to replace); that is the odd runs' case, not this one.
            await fs.rm(target, { recursive: true, force: true });
            for (const name of await entries(out)) if (name.startsWith(".CONT.")) await fs.rm(path.join(out, name), { recursive: true, force: true });
          } else if (!(await exists(target))) expectOk(await pypakr(["create-container", "-i", "jokes:1", "-c", target], { home }), "an old container to replace");
        },
        target: () => target,
        check: async (i, what) => {
          const present = await containerAbsentOrComplete(target, what);
          // --force replaces only once the new one is whole: the old one is never lost.
          if (i % 2 === 1) assert.ok(present || (await entries(out)).some((name) => name.startsWith(".CONT.old-")), `${what}: --force lost the old container`);
          return present;
        },
      });
      await assertNoTemp(home, "after create-container");
    });

    describe("real registry", () => {
      let registry: Registry;
      let reference: string;
      before(async () => {
        requireBinaries(["docker-registry"]);
        registry = await startRegistry();
        reference = `${registry.host}/jokes:1`;
        expectOk(await pypakr(["push", "jokes:1", reference], { home }), "push");
      });
      after(() => registry?.stop());

      test("pull -o (real registry): the archive is absent or whole, and the store holds the image or not", { timeout: SERIES_TIMEOUT_MS }, async (t) => {
        const pullHome = await otherHome("pull-home");
        const target = path.join(dir, "pulled", "PULLED.tar");
        await fs.mkdir(path.dirname(target));
        await killSeries(t, "pull", {
          home: pullHome,
          args: () => ["pull", reference, "-o", target],
          // Each run fetches every blob: the image leaves the store first.
          prepare: async () => {
            await fs.rm(target, { force: true });
            await untag(pullHome, reference);
          },
          target: () => target,
          check: (_i, what) => imageAbsentOrComplete(target, what),
        });
        await assertNoTemp(pullHome, "after pull");
      });

      test(
        "real registry: a pull right after one killed mid-download does not wait for the dead one's lock",
        { timeout: SERIES_TIMEOUT_MS },
        async () => {
          const pullHome = await otherHome("stall-home");
          await untag(pullHome, reference);
          const timed = performance.now();
          expectOk(await pypakr(["pull", reference], { home: pullHome }), "a normal pull, timed");
          const normal = performance.now() - timed;
          // Kill pulls the moment a blob's lock appears (the small blobs' locks live for milliseconds, which
          // kills at fixed or spread-out times mostly missed), until one dies holding it.
          const partial = path.join(pullHome, "store", "partial");
          const lockHeld = () => (existsSync(partial) ? readdirSync(partial).some((name) => name.endsWith(".lock")) : false);
          let locked = false;
          for (let attempt = 0; attempt < 20 && !locked; attempt++) {
            await untag(pullHome, reference);
            await runKilledAfter(["pull", reference], pullHome, lockHeld);
            locked = lockHeld();
          }
          assert.ok(locked, "no pull was killed while it held a blob's lock");
          const started = performance.now();
          expectOk(await pypakr(["pull", reference], { home: pullHome }), "pull after the kill");
          const took = performance.now() - started;
          // Waiting for the dead pull's lock to go stale would take PARTIAL_LOCK_STALE_MS; a busy machine may slow the pull itself.
          const limit = Math.min(PARTIAL_LOCK_STALE_MS - 1000, Math.max(3000, 2 * normal + 1000));
          assert.ok(took < limit, `the pull after a killed one took ${Math.round(took)} ms (a normal one ${Math.round(normal)} ms): it waited for the dead pull's lock to go stale`);
        },
      );
    });

    test("load: the image is in the store whole or not at all", { timeout: SERIES_TIMEOUT_MS }, async (t) => {
      const loadHome = await otherHome("load-home");
      await killSeries(t, "load", {
        home: loadHome,
        args: () => ["load", "-i", image, "-t", "loaded:1"],
        // Each run stores every blob: the image leaves the store first.
        prepare: () => untag(loadHome, "loaded:1"),
        check: async (i, what) => {
          // The image is stored and tagged (whole: the store verifies), or not there.
          const index = await readIndex(loadHome);
          if (i < 0 || i === RUNS) assert.ok(index.tags["loaded:1"], `${what}: no loaded:1`);
          return index.tags["loaded:1"] !== undefined;
        },
      });
      const container = path.join(dir, "from-loaded");
      expectOk(await pypakr(["create-container", "-i", "loaded:1", "-c", container], { home: loadHome }), "create-container from the loaded image");
      assert.ok(await containerAbsentOrComplete(container, "the loaded image's container"));
      await assertNoTemp(loadHome, "after load");
    });

    test("gc: whatever it freed, the store stays clean and keeps what is tagged", { timeout: SERIES_TIMEOUT_MS }, async (t) => {
      const gcHome = await otherHome("gc-home");
      // Garbage worth collecting: a variant of the jokes image whose app layer holds 400 files.
      const variant = await makeJokesSource(path.join(dir, "bulky-src"));
      for (let n = 0; n < 400; n++) await fs.writeFile(path.join(variant, `data-${n}.txt`), `${n}\n`);
      const bulky = path.join(dir, "bulky.tar");
      expectOk(await pypakr(["create-image", "-s", tarDirectory(variant, path.join(dir, "bulky-src.tar")), "-i", bulky], { home: gcHome }), "create-image of the bulky variant");
      expectOk(await pypakr(["load", "-i", image, "-t", "kept:1"], { home: gcHome }), "load");
      await killSeries(t, "gc", {
        home: gcHome,
        args: () => ["gc"],
        // Each run finds the bulky image stored untagged, its layers unpacked: all of it garbage.
        prepare: async () => {
          const store = storeOf(gcHome);
          const { digest } = await addImageArchive(store, bulky);
          const manifest = JSON.parse(await fs.readFile(store.blobFile(digest), "utf8")) as { layers: { digest: string }[] };
          for (const layer of manifest.layers) await unpackLayer(store, layer.digest, layer.digest);
        },
        check: async (_i, what) => {
          // What is tagged survives every gc, killed or not (and verifies: see storeClean).
          assert.ok((await readIndex(gcHome)).tags["kept:1"], `${what}: kept:1 is gone`);
          return true;
        },
      });
      const kept = path.join(dir, "kept");
      expectOk(await pypakr(["create-container", "-i", "kept:1", "-c", kept], { home: gcHome }), "create-container from the kept image");
      assert.ok(await containerAbsentOrComplete(kept, "the kept image's container"));
      const index = await readIndex(gcHome);
      assert.deepEqual(Object.keys(index.images), [index.tags["kept:1"]], "gc after the kills left only the tagged image");
      await assertNoTemp(gcHome, "after gc");
    });
  });
});
