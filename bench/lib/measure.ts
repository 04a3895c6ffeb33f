/**
 * The measurements. Each "case" is one command line (or a short sequence,
 * timed as a whole); each case gets one untimed warm-up, then its timed runs.
 * The cases of a group are mostly timed round-robin, so slow drift of the
 * machine spreads over all of them. Before every timed run dirty pages are
 * flushed (sync), outside the timed region.
 *
 * Deleting files slows down whatever creates files next: on ext4 without a
 * journal (perf shows __ext4_new_inode -> recently_deleted on the machine
 * this was written on), a new inode skips every inode deleted in the last
 * 60 s (360 s while the inode table is dirty), one buffer lookup each. So
 * outputs are not deleted between runs but all at once at the end (see
 * `cleanUp`), and the create-image group, whose pypakr side deletes a
 * 7,000-file work venv on every run, is timed one command after the other.
 *
 * Peak memory is measured apart from the timings: one more untimed run of a
 * command under a small Python wrapper that reads its children's largest
 * resident set (getrusage RUSAGE_CHILDREN, ru_maxrss) after they exit.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { FixtureSet } from "./fixtures.js";
import { CLI, PYPAKR_HOME, SCRATCH, UV, WORK } from "./paths.js";
import { benchEnv, CommandFailed, describe, run, timeSteps, type Step } from "./proc.js";
import { summarize, type Summary } from "./stats.js";

export interface Measurement {
  id: string;
  label: string;
  command: string;
  /** Wall time of each successful timed run, in milliseconds. */
  samples: number[];
  summary: Summary | null;
  /** Why the warm-up or a timed run failed; a failed warm-up skips the command. */
  failures: string[];
  /** What the samples count when not milliseconds of wall time (the serve rows' throughput). */
  unit?: "ms" | "req/s";
}

export interface Target {
  /** What the target limits: pypakr / peer, pypakr - peer (in the row's unit), or pypakr's own value (an absolute limit, in the row's unit). */
  metric: "ratio" | "difference" | "value";
  /** ">=" for a figure where more is better (throughput). */
  op: "<=" | "<" | ">=";
  value: number;
}

export interface Comparison {
  id: string;
  what: string;
  unit: "ms" | "bytes" | "req/s";
  pypakr: number | null;
  peer: number | null;
  ratio: number | null;
  difference: number | null;
  target: Target | null;
  met: boolean | null;
}

export interface SetResult {
  name: string;
  description: string;
  runs: number;
  fixture: {
    wheels: number;
    wheelBytes: number;
    referenceFiles: number;
    referenceBytes: number;
    generatedFiles?: number;
    generatedInstalledBytes?: number;
  };
  sizes: Record<string, number | null>;
  measurements: Record<string, Measurement>;
  comparisons: Comparison[];
  /**
   * Peak resident set size in bytes of one untimed run of some commands, by
   * measurement id (the largest single process: for pypakr, the node process
   * its launcher execs). Absent in results from before it was measured.
   */
  peakRss?: Record<string, number | null>;
  notes: string[];
}

/** What the pypakr under test can do, read from its --help. */
export interface Features {
  /** create-container --link auto|hardlink|reflink|copy */
  linkModes: boolean;
  /** create-container -i NAME:TAG of an image added with `pypakr load -i FILE -t NAME:TAG` */
  tagRefs: boolean;
  /** create-image --compression gzip|zstd[:LEVEL]|max */
  compression: boolean;
}

export interface Context {
  python: string;
  startupRuns: number;
  features: Features;
  /** Delete each run's output right away (when the disk is short of space). */
  deleteEachRun: boolean;
  log: (message: string) => void;
}

type StepList = (Step | (() => Step | null))[];

interface Case {
  measurement: Measurement;
  /** Steps for one run whose output goes to `target` (a path that does not exist yet). */
  steps: (target: string) => StepList;
  /** Untimed preparation before each run. */
  prepare?: (target: string) => void;
  /** Keep the warm-up's output (with skipWarmup: the first timed run's) at this path for later cases (e.g. the image, a finished container). */
  keepWarmup?: string;
  /**
   * No warm-up: for a slow command that follows others reading the same
   * files, so the page cache is warm already. Its first timed run stands in.
   */
  skipWarmup?: boolean;
  /** Flush dirty pages before each timed run (off for read-only commands). */
  sync: boolean;
  /** Timed runs of this case when fewer than the group's (for a slow command whose time is for information). */
  runs?: number;
}

const LAST_CLEANUP = path.join(WORK, "last-cleanup.json");

function sync(): void {
  spawnSync("sync", { stdio: "ignore" });
}

function remove(target: string): void {
  fs.rmSync(target, { recursive: true, force: true });
}

function message(error: unknown): string {
  if (error instanceof CommandFailed) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function newCase(id: string, label: string, steps: Case["steps"], extra: Partial<Omit<Case, "measurement" | "steps">> = {}): Case {
  const command = steps("TARGET")
    .map((step) => (typeof step === "function" ? "[TARGET/bin/conda-unpack, if the archive has one]" : describe(step)))
    .join(" && ");
  return { measurement: { id, label, command, samples: [], summary: null, failures: [] }, steps, sync: true, ...extra };
}

/**
 * Outputs are named short (`<prefix><case>-<run>`, e.g. runs/c2-4) because a
 * pypakr container's path must fit the image's 96-byte relocation slot.
 */
function runGroup(name: string, prefix: string, cases: Case[], runs: number, outputs: string, ctx: Context, env: NodeJS.ProcessEnv, order: "round-robin" | "blocks"): void {
  const attempt = (item: Case, target: string, timed: boolean) => {
    try {
      item.prepare?.(target);
      if (timed && item.sync) sync();
      const ms = timeSteps(item.steps(target), env);
      if (timed) item.measurement.samples.push(ms);
    } catch (error) {
      item.measurement.failures.push(`${timed ? "timed run" : "warm-up"}: ${message(error)}`);
      ctx.log(`${item.measurement.label} FAILED${timed ? "" : " in its warm-up; skipping it"}:\n${message(error)}`);
    }
  };
  const warmUp = (number: number, item: Case) => {
    if (item.skipWarmup) return;
    const target = item.keepWarmup ?? path.join(outputs, `${prefix}${number}-w`);
    remove(target);
    ctx.log(`${name}: warm-up ${item.measurement.label}`);
    attempt(item, target, false);
    if (ctx.deleteEachRun && !item.keepWarmup) remove(target);
  };
  const timed = (number: number, item: Case, index: number) => {
    if (index >= Math.min(item.runs ?? runs, runs)) return;
    if (item.measurement.failures.some((failure) => failure.startsWith("warm-up"))) return;
    const keep = item.skipWarmup && index === 0 ? item.keepWarmup : undefined;
    const target = keep ?? path.join(outputs, `${prefix}${number}-${index}`);
    if (keep) remove(keep);
    attempt(item, target, true);
    if (ctx.deleteEachRun && !keep) remove(target);
  };
  if (order === "round-robin") {
    for (const [number, item] of cases.entries()) warmUp(number, item);
    for (let index = 0; index < runs; index++) {
      ctx.log(`${name}: run ${index + 1}/${runs}`);
      for (const [number, item] of cases.entries()) timed(number, item, index);
    }
  } else {
    for (const [number, item] of cases.entries()) {
      warmUp(number, item);
      const count = Math.min(item.runs ?? runs, runs);
      for (let index = 0; index < count; index++) {
        ctx.log(`${name}: ${item.measurement.label}: run ${index + 1}/${count}`);
        timed(number, item, index);
      }
    }
  }
  for (const item of cases) item.measurement.summary = item.measurement.samples.length ? summarize(item.measurement.samples) : null;
}

export function compare(id: string, what: string, unit: Comparison["unit"], pypakr: number | null | undefined, peer: number | null | undefined, target: Target | null): Comparison {
  const a = pypakr ?? null;
  const b = peer ?? null;
  const ratio = a !== null && b !== null && b > 0 ? a / b : null;
  const difference = a !== null && b !== null ? a - b : null;
  let met: boolean | null = null;
  if (target) {
    const value = target.metric === "ratio" ? ratio : target.metric === "difference" ? difference : a;
    if (value !== null) met = target.op === "<=" ? value <= target.value : target.op === ">=" ? value >= target.value : value < target.value;
  }
  return { id, what, unit, pypakr: a, peer: b, ratio, difference, target, met };
}

function sizeOf(file: string): number | null {
  try {
    return fs.statSync(file).size;
  } catch {
    return null;
  }
}

/**
 * Runs its argument vector once and prints the largest resident set of its
 * children in bytes (ru_maxrss is in KiB on Linux, bytes on macOS). The
 * command's own output goes to stderr, so stdout holds the figure alone.
 */
const PEAK_RSS_WRAPPER = [
  "import resource, subprocess, sys",
  "code = subprocess.run(sys.argv[1:], stdout=sys.stderr).returncode",
  "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss",
  "print(rss if sys.platform == 'darwin' else rss * 1024)",
  "sys.exit(code)",
].join("\n");

/**
 * The peak RSS of one more, untimed run of a case into a fresh output: the
 * largest of its steps' figures (each step is one wrapper run), or null with
 * the reason added to the case's failures. The pypakr launcher is a shell
 * script that execs node, so for pypakr the figure is node's.
 */
function measurePeakRss(item: Case, target: string, ctx: Context, env: NodeJS.ProcessEnv): number | null {
  if (item.measurement.failures.some((failure) => failure.startsWith("warm-up"))) return null;
  try {
    remove(target);
    item.prepare?.(target);
    let peak = 0;
    for (const entry of item.steps(target)) {
      const step = typeof entry === "function" ? entry() : entry;
      if (step === null) continue;
      const output = run({ cmd: ctx.python, args: ["-c", PEAK_RSS_WRAPPER, step.cmd, ...step.args], cwd: step.cwd, env: step.env }, env).trim();
      const bytes = Number(output);
      if (!/^\d+$/.test(output) || !Number.isSafeInteger(bytes)) throw new Error(`the peak RSS wrapper printed ${JSON.stringify(output.slice(0, 100))}, not a number of bytes`);
      peak = Math.max(peak, bytes);
    }
    return peak;
  } catch (error) {
    item.measurement.failures.push(`peak RSS run: ${message(error)}`);
    ctx.log(`${item.measurement.label}: peak RSS run FAILED:\n${message(error)}`);
    return null;
  } finally {
    if (ctx.deleteEachRun) remove(target);
  }
}

/** Where a set's scratch lives: bench/work/s/<set>/ (image.tar, finished/, runs/). */
export function scratchOf(set: FixtureSet): string {
  return path.join(SCRATCH, set.name);
}

/** All measurements for one fixture set. `startup` adds the `pypakr run` start-up test. */
export function measureSet(set: FixtureSet, runs: number, ctx: Context, startup: boolean): SetResult {
  const env = benchEnv(ctx.python);
  const scratch = scratchOf(set);
  const outputs = path.join(scratch, "runs");
  remove(scratch);
  fs.mkdirSync(outputs, { recursive: true });
  const image = path.join(scratch, "image.tar");
  const imageMax = path.join(scratch, "image-max.tar");
  const finished = path.join(scratch, "finished");
  const node = process.execPath;
  const notes: string[] = [];
  const pypakr = (args: string[], extra: Partial<Step> = {}): Step => ({ cmd: CLI, args, cwd: scratch, ...extra });

  run(pypakr(["init"]), env);

  // (c) create-image vs the same install by pip into a fresh venv; the pip samples serve (a) too.
  // One command after the other, pip first: every create-image deletes its throw-away work venv
  // (~7,000 files here), which would slow a pip run that follows it (see the top of this file).
  const createImage = newCase("pypakr-create-image", "pypakr create-image", (target) => [pypakr(["create-image", "-s", set.source, "-i", target])], { keepWarmup: image });
  const pip = newCase("venv-pip", "python -m venv + pip install", (target) => [
    { cmd: ctx.python, args: ["-m", "venv", target], cwd: scratch },
    { cmd: path.join(target, "bin", "pip"), args: ["install", "--no-index", "--find-links", set.wheelsDir, ...set.requirements], cwd: scratch },
  ]);
  const imageCases = [pip, createImage];
  if (ctx.features.compression) {
    // zstd level 19 runs at a few MB/s (about a minute on the real set) and its time is for
    // information, so it is built once: no warm-up (the default builds just read the same source,
    // wheels and base), one timed run, whose image is the one whose size is compared.
    imageCases.push(
      newCase("pypakr-create-image-max", "pypakr create-image --compression max", (target) => [pypakr(["create-image", "-s", set.source, "-i", target, "--compression", "max"])], {
        keepWarmup: imageMax,
        skipWarmup: true,
        runs: 1,
      }),
    );
  } else {
    notes.push("create-image has no --compression option (not in its --help): the --compression max rows are skipped.");
  }
  runGroup(`${set.name} create-image`, "i", imageCases, runs, outputs, ctx, env, "blocks");

  // (a) create-container vs uv, venv-pack and plain copies of the finished container.
  const createContainer = (extra: string[], from = image) => (target: string) => [pypakr(["create-container", "-i", from, "-c", target, ...extra])];
  const fromFile = newCase("pypakr-create-container", "pypakr create-container -i IMAGE.tar", createContainer([]), { keepWarmup: finished });
  const containerCases = [fromFile];
  if (ctx.features.linkModes) {
    containerCases.push(
      newCase("pypakr-create-container-hardlink", "pypakr create-container --link hardlink", createContainer(["--link", "hardlink"])),
      newCase("pypakr-create-container-copy", "pypakr create-container --link copy", createContainer(["--link", "copy"])),
    );
  } else {
    notes.push("create-container has no --link option (not in its --help): the --link hardlink / --link copy rows are skipped.");
  }
  let fromTag: Case | null = null;
  if (ctx.features.tagRefs) {
    const tag = `bench-${set.name}:1`;
    let loaded = false;
    fromTag = newCase("pypakr-create-container-tag", `pypakr create-container -i ${tag} (stored image)`, createContainer([], tag), {
      // Loading is untimed and done once: the image is in the store before the first run.
      prepare: () => {
        if (!loaded) run(pypakr(["load", "-i", image, "-t", tag]), env);
        loaded = true;
      },
    });
    containerCases.push(fromTag);
  } else {
    notes.push("create-container takes no image tag (its --help names no stored image): the by-tag row is skipped.");
  }
  // First use of the image on a machine: a pypakr home holding only the base (no store, nothing unpacked).
  const coldHome = (target: string) => `${target}.home`;
  const cold = newCase("pypakr-create-container-cold", "pypakr create-container, empty store", (target) => [pypakr(["create-container", "-i", image, "-c", target], { env: { ...env, PYPAKR_HOME: coldHome(target) } })], {
    prepare: (target) => {
      remove(coldHome(target));
      fs.mkdirSync(coldHome(target), { recursive: true });
      fs.symlinkSync(path.join(PYPAKR_HOME, "bases"), path.join(coldHome(target), "bases"));
    },
  });
  containerCases.push(cold);
  const uv = newCase("uv", "uv venv + uv pip install", (target) => [
    { cmd: UV, args: ["venv", "-q", "--python", ctx.python, target], cwd: scratch },
    { cmd: UV, args: ["pip", "install", "-q", "--python", path.join(target, "bin", "python"), "--no-index", "--find-links", set.wheelsDir, ...set.requirements], cwd: scratch },
  ]);
  const venvPack = newCase("venv-pack-unpack", "venv-pack archive: mkdir + tar -xzf", (target) => [
    { cmd: "mkdir", args: [target] },
    { cmd: "tar", args: ["-xzf", set.venvPackArchive, "-C", target] },
    () => (fs.existsSync(path.join(target, "bin", "conda-unpack")) ? { cmd: path.join(target, "bin", "conda-unpack"), args: [] } : null),
  ]);
  const cpLink = newCase("cp-al", "cp -al (finished container)", (target) => [{ cmd: "cp", args: ["-al", finished, target] }]);
  const cpCopy = newCase("cp-r-reflink", "cp -r --reflink=auto (finished container)", (target) => [{ cmd: "cp", args: ["-r", "--reflink=auto", finished, target] }]);
  runGroup(`${set.name} create-container`, "c", [...containerCases, uv, venvPack, cpLink, cpCopy], runs, outputs, ctx, env, "round-robin");

  // Peak memory, after the timed runs (same warm store and page cache): pypakr from the file (the
  // target), from the stored image and from an empty store, and uv's install for scale.
  const peakRss: Record<string, number | null> = {};
  for (const [number, item] of [fromFile, fromTag, cold, uv].entries()) {
    if (!item) continue;
    ctx.log(`${set.name}: peak RSS of ${item.measurement.label}`);
    peakRss[item.measurement.id] = measurePeakRss(item, path.join(outputs, `m${number}`), ctx, env);
  }

  const measurements: Record<string, Measurement> = {};
  for (const item of [...imageCases, ...containerCases, uv, venvPack, cpLink, cpCopy]) measurements[item.measurement.id] = item.measurement;

  // (d) pypakr run start-up: the same trivial program through pypakr and directly.
  if (startup) {
    const viaPypakr = newCase("pypakr-run", "pypakr run -c DIR -r python -- -c pass", () => [pypakr(["run", "-c", finished, "-r", "python", "--", "-c", "pass"])], { sync: false });
    const direct = newCase("direct-python", "DIR/bin/python -c pass", () => [{ cmd: path.join(finished, "bin", "python"), args: ["-c", "pass"], cwd: scratch }], { sync: false });
    const nodeFloor = newCase("node-startup", "node -e 0 (Node's own start-up, for scale)", () => [{ cmd: node, args: ["-e", "0"], cwd: scratch }], { sync: false });
    runGroup(`${set.name} start-up`, "r", [viaPypakr, direct, nodeFloor], ctx.startupRuns, outputs, ctx, env, "round-robin");
    for (const item of [viaPypakr, direct, nodeFloor]) measurements[item.measurement.id] = item.measurement;
  }

  // (b) sizes: the warm-ups' images (every build of a source with the same options makes the same image)
  const sizes: Record<string, number | null> = {
    image: sizeOf(image),
    ...(ctx.features.compression ? { imageMax: sizeOf(imageMax) } : {}),
    wheels: set.wheelBytes,
    venvPackArchive: sizeOf(set.venvPackArchive),
    venvPackBytecodeArchive: sizeOf(set.venvPackBytecodeArchive),
  };

  const m = (id: string) => measurements[id]?.summary?.median;
  const ratio = (op: Target["op"], value: number): Target => ({ metric: "ratio", op, value });
  // Targets first (issue 12): from a stored image <= 1.5x cp -al and faster than uv; from the file,
  // hashing it included, <= 2x cp -al; from an empty store <= 1.2x unpacking venv-pack's archive.
  const comparisons: Comparison[] = [compare("create-container/cp-al", "create-container -i IMAGE.tar (hashing it) vs cp -al", "ms", m("pypakr-create-container"), m("cp-al"), ratio("<=", 2))];
  if (ctx.features.tagRefs) {
    comparisons.push(
      compare("create-container-tag/cp-al", "create-container -i TAG (stored image) vs cp -al", "ms", m("pypakr-create-container-tag"), m("cp-al"), ratio("<=", 1.5)),
      compare("create-container-tag/uv", "create-container -i TAG vs uv venv + pip install", "ms", m("pypakr-create-container-tag"), m("uv"), ratio("<", 1.0)),
    );
  }
  comparisons.push(
    compare("create-container-cold/venv-pack", "create-container, empty store vs venv-pack unpack", "ms", m("pypakr-create-container-cold"), m("venv-pack-unpack"), ratio("<=", 1.2)),
    compare("create-container/uv", "create-container -i IMAGE.tar vs uv venv + pip install", "ms", m("pypakr-create-container"), m("uv"), null),
    compare("create-container/cp-r", "create-container -i IMAGE.tar vs cp -r --reflink=auto", "ms", m("pypakr-create-container"), m("cp-r-reflink"), null),
    compare("create-container/venv-pip", "create-container -i IMAGE.tar vs venv + pip install", "ms", m("pypakr-create-container"), m("venv-pip"), null),
    compare("create-container/venv-pack", "create-container -i IMAGE.tar vs venv-pack unpack", "ms", m("pypakr-create-container"), m("venv-pack-unpack"), null),
  );
  if (ctx.features.linkModes) {
    comparisons.push(
      compare("create-container-hardlink/cp-al", "create-container --link hardlink vs cp -al", "ms", m("pypakr-create-container-hardlink"), m("cp-al"), null),
      compare("create-container-copy/cp-r", "create-container --link copy vs cp -r", "ms", m("pypakr-create-container-copy"), m("cp-r-reflink"), null),
    );
  }
  // Memory: an absolute limit on the generated sets (the real set's numpy and pandas are information).
  const rssLimit: Target | null = set.generated ? { metric: "value", op: "<=", value: 150e6 } : null;
  comparisons.push(compare("create-container/peak-rss", "peak RSS: create-container -i IMAGE.tar vs uv venv + pip install", "bytes", peakRss["pypakr-create-container"], peakRss.uv, rssLimit));
  if (fromTag) comparisons.push(compare("create-container-tag/peak-rss", "peak RSS: create-container -i TAG vs uv venv + pip install", "bytes", peakRss["pypakr-create-container-tag"], peakRss.uv, null));
  comparisons.push(compare("create-container-cold/peak-rss", "peak RSS: create-container, empty store vs uv venv + pip install", "bytes", peakRss["pypakr-create-container-cold"], peakRss.uv, null));

  // The image against venv-pack's archive of the env as pip leaves it (bytecode compiled), the
  // way a user packs one, and of the env without bytecode, which holds the same files as the image.
  comparisons.push(
    compare("image/wheels", "image size vs the wheels", "bytes", sizes.image, sizes.wheels, ratio("<=", 1.1)),
    compare("image/venv-pack-bytecode", "image vs venv-pack of the pip-made env (with bytecode)", "bytes", sizes.image, sizes.venvPackBytecodeArchive, ratio("<=", 0.45)),
    compare("image/venv-pack", "image vs venv-pack of the env without bytecode", "bytes", sizes.image, sizes.venvPackArchive, ratio("<=", 0.6)),
  );
  if (ctx.features.compression) {
    comparisons.push(
      compare("image-max/venv-pack-bytecode", "--compression max image vs venv-pack with bytecode", "bytes", sizes.imageMax, sizes.venvPackBytecodeArchive, ratio("<=", 0.4)),
      compare("image-max/venv-pack", "--compression max image vs venv-pack without bytecode", "bytes", sizes.imageMax, sizes.venvPackArchive, ratio("<=", 0.5)),
    );
  }
  comparisons.push(compare("create-image/venv-pip", "create-image vs venv + pip install", "ms", m("pypakr-create-image"), m("venv-pip"), ratio("<=", 1.15)));
  if (ctx.features.compression) {
    comparisons.push(compare("create-image-max/venv-pip", "create-image --compression max vs venv + pip install", "ms", m("pypakr-create-image-max"), m("venv-pip"), null));
  }
  if (startup) {
    comparisons.push(compare("run/direct", "pypakr run vs DIR/bin/python (start-up)", "ms", m("pypakr-run"), m("direct-python"), { metric: "difference", op: "<=", value: 60 }));
  }

  return {
    name: set.name,
    description: set.description,
    runs,
    fixture: {
      wheels: set.wheelCount,
      wheelBytes: set.wheelBytes,
      referenceFiles: set.referenceFiles,
      referenceBytes: set.referenceBytes,
      ...(set.generated ? { generatedFiles: set.generated.files, generatedInstalledBytes: set.generated.installedBytes } : {}),
    },
    sizes,
    measurements,
    comparisons,
    peakRss,
    notes,
  };
}

/**
 * Deletes the runs' outputs (the image.tar and finished container of each set
 * stay for a look). Done once, at the very end, for the reason given at the top.
 */
export function cleanUp(sets: FixtureSet[]): void {
  for (const set of sets) {
    const runs = path.join(scratchOf(set), "runs");
    // rm(1) is several times faster than fs.rmSync on a tree of ~100,000 files.
    if (spawnSync("rm", ["-rf", "--", runs], { stdio: "ignore" }).status !== 0) remove(runs);
  }
  fs.writeFileSync(LAST_CLEANUP, JSON.stringify({ at: new Date().toISOString() }) + "\n");
}

/** Seconds since the last benchmark deleted its outputs, or null. */
export function secondsSinceLastCleanUp(): number | null {
  try {
    const { at } = JSON.parse(fs.readFileSync(LAST_CLEANUP, "utf8")) as { at: string };
    return (Date.now() - Date.parse(at)) / 1000;
  } catch {
    return null;
  }
}
