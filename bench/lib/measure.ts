/**
 * The measurements. Each "case" is one command line (or a short sequence,
 * timed as a whole); cases of a group get one untimed warm-up each, then are
 * timed round-robin, so slow drift of the machine spreads over all of them.
 * Before every timed run the page cache's dirty data is flushed (sync) and
 * the previous run's output is removed, outside the timed region.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { FixtureSet } from "./fixtures.js";
import { CLI, SCRATCH, UV } from "./paths.js";
import { benchEnv, CommandFailed, describe, run, timeSteps, type Step } from "./proc.js";
import { summarize, type Summary } from "./stats.js";

export interface Measurement {
  id: string;
  label: string;
  command: string;
  /** Wall time of each timed run, in milliseconds. */
  samples: number[];
  summary: Summary | null;
  error?: string;
}

export interface Target {
  /** What the target limits: pypakr / peer, or pypakr - peer (in the row's unit). */
  metric: "ratio" | "difference";
  op: "<=" | "<";
  value: number;
}

export interface Comparison {
  id: string;
  what: string;
  unit: "ms" | "bytes";
  pypakr: number | null;
  peer: number | null;
  ratio: number | null;
  difference: number | null;
  target: Target | null;
  met: boolean | null;
  note?: string;
}

export interface SetResult {
  name: string;
  description: string;
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
  notes: string[];
}

export interface Context {
  python: string;
  runs: number;
  startupRuns: number;
  /** Whether create-container accepts --link (hardlink|reflink|copy). */
  linkModes: boolean;
  log: (message: string) => void;
}

interface Case {
  measurement: Measurement;
  /** Steps for one run whose output goes to `target` (a path that does not exist yet). */
  steps: (target: string) => (Step | (() => Step | null))[];
  /** Keep the warm-up's output at this path for later cases (e.g. the image, a finished container). */
  keepWarmup?: string;
  /** Flush dirty pages before each timed run (off for read-only commands). */
  sync?: boolean;
}

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

function newCase(id: string, label: string, steps: Case["steps"], extra: Omit<Case, "measurement" | "steps"> = {}): Case {
  const example = steps("TARGET")
    .map((step) => (typeof step === "function" ? "[TARGET/bin/conda-unpack if present]" : describe(step)))
    .join(" && ");
  return { measurement: { id, label, command: example, samples: [], summary: null }, steps, sync: true, ...extra };
}

function runGroup(name: string, cases: Case[], runs: number, scratch: string, ctx: Context, env: NodeJS.ProcessEnv): void {
  for (const item of cases) {
    const target = item.keepWarmup ?? path.join(scratch, `${item.measurement.id}-warmup`);
    remove(target);
    ctx.log(`${name}: warm-up ${item.measurement.label}`);
    try {
      timeSteps(item.steps(target), env);
    } catch (error) {
      item.measurement.error = message(error);
      ctx.log(`${item.measurement.label} FAILED; skipping it:\n${item.measurement.error}`);
    }
    if (!item.keepWarmup) remove(target);
  }
  for (let index = 0; index < runs; index++) {
    ctx.log(`${name}: run ${index + 1}/${runs}`);
    for (const item of cases) {
      if (item.measurement.error) continue;
      const target = path.join(scratch, `${item.measurement.id}-${index}`);
      remove(target);
      if (item.sync) sync();
      try {
        item.measurement.samples.push(timeSteps(item.steps(target), env));
      } catch (error) {
        item.measurement.error = message(error);
        ctx.log(`${item.measurement.label} FAILED:\n${item.measurement.error}`);
      } finally {
        remove(target);
      }
    }
  }
  for (const item of cases) item.measurement.summary = item.measurement.samples.length ? summarize(item.measurement.samples) : null;
}

function compare(
  id: string,
  what: string,
  unit: Comparison["unit"],
  pypakr: number | null | undefined,
  peer: number | null | undefined,
  target: Target | null,
  note?: string,
): Comparison {
  const a = pypakr ?? null;
  const b = peer ?? null;
  const ratio = a !== null && b !== null && b > 0 ? a / b : null;
  const difference = a !== null && b !== null ? a - b : null;
  let met: boolean | null = null;
  if (target) {
    const value = target.metric === "ratio" ? ratio : difference;
    if (value !== null) met = target.op === "<=" ? value <= target.value : value < target.value;
  }
  return { id, what, unit, pypakr: a, peer: b, ratio, difference, target, met, ...(note ? { note } : {}) };
}

function sizeOf(file: string): number | null {
  try {
    return fs.statSync(file).size;
  } catch {
    return null;
  }
}

/** All measurements for one fixture set. `startup` adds the `pypakr run` start-up test. */
export function measureSet(set: FixtureSet, ctx: Context, startup: boolean): SetResult {
  const env = benchEnv(ctx.python);
  const scratch = path.join(SCRATCH, set.name);
  remove(scratch);
  fs.mkdirSync(scratch, { recursive: true });
  const image = path.join(scratch, "image.tar");
  const finished = path.join(scratch, "finished");
  const node = process.execPath;
  const notes: string[] = [];

  run({ cmd: node, args: [CLI, "init"] }, env);

  // (c) create-image vs the same install by pip into a fresh venv; the pip samples serve (a) too.
  const createImage = newCase("pypakr-create-image", "pypakr create-image", (target) => [{ cmd: node, args: [CLI, "create-image", "-s", set.source, "-i", target], cwd: scratch }], {
    keepWarmup: image,
  });
  const pip = newCase("venv-pip", "python -m venv + pip install", (target) => [
    { cmd: ctx.python, args: ["-m", "venv", target], cwd: scratch },
    { cmd: path.join(target, "bin", "pip"), args: ["install", "--no-index", "--find-links", set.wheelsDir, ...set.requirements], cwd: scratch },
  ]);
  runGroup(`${set.name} create-image`, [createImage, pip], ctx.runs, scratch, ctx, env);

  // (a) create-container vs uv, venv-pack and plain copies of the finished container.
  const createContainer = (extra: string[]) => (target: string) => [{ cmd: node, args: [CLI, "create-container", "-i", image, "-c", target, ...extra], cwd: scratch }];
  const containerCases = [newCase("pypakr-create-container", "pypakr create-container", createContainer([]), { keepWarmup: finished })];
  if (ctx.linkModes) {
    containerCases.push(newCase("pypakr-create-container-hardlink", "pypakr create-container --link hardlink", createContainer(["--link", "hardlink"])));
    containerCases.push(newCase("pypakr-create-container-copy", "pypakr create-container --link copy", createContainer(["--link", "copy"])));
  } else {
    notes.push("create-container has no --link option (not in its --help): the --link hardlink / --link copy rows are skipped.");
  }
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
  runGroup(`${set.name} create-container`, [...containerCases, uv, venvPack, cpLink, cpCopy], ctx.runs, scratch, ctx, env);

  const measurements: Record<string, Measurement> = {};
  for (const item of [createImage, pip, ...containerCases, uv, venvPack, cpLink, cpCopy]) measurements[item.measurement.id] = item.measurement;

  // (d) pypakr run start-up: the same trivial program through pypakr and directly.
  if (startup) {
    const viaPypakr = newCase("pypakr-run", "pypakr run -c DIR -- python -c pass", () => [{ cmd: node, args: [CLI, "run", "-c", finished, "--", "python", "-c", "pass"], cwd: scratch }], {
      sync: false,
    });
    const direct = newCase("direct-python", "DIR/bin/python -c pass", () => [{ cmd: path.join(finished, "bin", "python"), args: ["-c", "pass"], cwd: scratch }], { sync: false });
    const nodeFloor = newCase("node-startup", "node -e 0 (Node's own start-up, for scale)", () => [{ cmd: node, args: ["-e", "0"], cwd: scratch }], { sync: false });
    runGroup(`${set.name} start-up`, [viaPypakr, direct, nodeFloor], ctx.startupRuns, scratch, ctx, env);
    for (const item of [viaPypakr, direct, nodeFloor]) measurements[item.measurement.id] = item.measurement;
  }

  // (b) sizes
  const sizes = {
    image: createImage.measurement.error ? null : sizeOf(image),
    wheels: set.wheelBytes,
    venvPackArchive: sizeOf(set.venvPackArchive),
  };

  const m = (id: string) => measurements[id]?.summary?.median;
  const comparisons: Comparison[] = [
    compare("create-container/cp-al", "create-container vs cp -al", "ms", m("pypakr-create-container"), m("cp-al"), { metric: "ratio", op: "<=", value: 1.5 }),
    compare("create-container/uv", "create-container vs uv venv + pip install", "ms", m("pypakr-create-container"), m("uv"), { metric: "ratio", op: "<", value: 1.0 }),
    compare("create-container/cp-r", "create-container vs cp -r --reflink=auto", "ms", m("pypakr-create-container"), m("cp-r-reflink"), null),
    compare("create-container/venv-pip", "create-container vs venv + pip install", "ms", m("pypakr-create-container"), m("venv-pip"), null),
    compare("create-container/venv-pack", "create-container vs venv-pack unpack", "ms", m("pypakr-create-container"), m("venv-pack-unpack"), null),
  ];
  if (ctx.linkModes) {
    comparisons.push(
      compare("create-container-hardlink/cp-al", "create-container --link hardlink vs cp -al", "ms", m("pypakr-create-container-hardlink"), m("cp-al"), null),
      compare("create-container-copy/cp-r", "create-container --link copy vs cp -r", "ms", m("pypakr-create-container-copy"), m("cp-r-reflink"), null),
    );
  }
  comparisons.push(
    compare("image/wheels", "image size vs the wheels", "bytes", sizes.image, sizes.wheels, { metric: "ratio", op: "<=", value: 1.1 }),
    compare("image/venv-pack", "image size vs venv-pack .tar.gz", "bytes", sizes.image, sizes.venvPackArchive, { metric: "ratio", op: "<=", value: 0.5 }),
    compare("create-image/venv-pip", "create-image vs venv + pip install", "ms", m("pypakr-create-image"), m("venv-pip"), { metric: "ratio", op: "<=", value: 1.15 }),
  );
  if (startup) {
    comparisons.push(compare("run/direct", "pypakr run vs DIR/bin/python (start-up)", "ms", m("pypakr-run"), m("direct-python"), { metric: "difference", op: "<=", value: 60 }));
  }

  // The image and the finished container stay in bench/work/s/<set>/ for a look afterwards; the next run wipes them.
  return {
    name: set.name,
    description: set.description,
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
    notes,
  };
}
