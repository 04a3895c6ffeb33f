/**
 * pypakr's benchmark: `npm run bench` (= build, then node dist/bench/run.js).
 *
 * Measures create-container, create-image, image size and `pypakr run`
 * start-up against pip, uv, venv-pack and cp on the same packages, prints the
 * machine and a table of medians and ratios, and writes
 * bench/results/<timestamp>.json and bench/results/latest.json. See
 * bench/README.md.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ensureTools, indexReachable, realSet, realWheelsCached, resolvePython, syntheticSet, type FixtureSet } from "./lib/fixtures.js";
import { describeMachine, describeMount } from "./lib/machine.js";
import { cleanUp, measureSet, scratchOf, secondsSinceLastCleanUp, type Context, type Features, type SetResult } from "./lib/measure.js";
import { parseOptions, PARTS, USAGE, type Options, type Part } from "./lib/options.js";
import { BUILT_CLI_DIR, CLI, PYPAKR_CONFIG, RESULTS, SNAPSHOT, WORK } from "./lib/paths.js";
import { run, tryRun } from "./lib/proc.js";
import { formatChange, formatResult, type BenchResult } from "./lib/report.js";
import { measureScale } from "./lib/scale.js";
import { exportUnavailable, measureExport } from "./lib/export.js";
import { measureServe, serveUnavailable } from "./lib/serve.js";
import { hubUnavailable, measureHub } from "./lib/hub.js";
import { measureTransfer } from "./lib/transfer.js";

const START = Date.now();

function log(message: string): void {
  const seconds = ((Date.now() - START) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`bench ${seconds}s: ${message}\n`);
}

/** Below this much free space in bench/work, each run's output is deleted at once instead of at the end. */
const SPACE_TO_KEEP_OUTPUTS = 12 * 1024 ** 3;

/**
 * Copies the built bundle to bench/work/pypakr, so the whole run measures
 * one build even if dist/ is rebuilt meanwhile. Returns a short hash of the
 * copied JavaScript, which names that build.
 */
function snapshotCli(): string {
  const built = path.join(BUILT_CLI_DIR, "pypakr");
  if (!fs.existsSync(built)) throw new Error(`${built} is missing: build first (npm run build)`);
  fs.rmSync(SNAPSHOT, { recursive: true, force: true });
  fs.cpSync(BUILT_CLI_DIR, SNAPSHOT, { recursive: true });
  const hash = createHash("sha256");
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".js") || entry.name === "pypakr") hash.update(path.relative(SNAPSHOT, full)).update(fs.readFileSync(full));
    }
  };
  walk(SNAPSHOT);
  return hash.digest("hex").slice(0, 12);
}

function detectFeatures(): Features {
  const containerHelp = tryRun({ cmd: CLI, args: ["create-container", "--help"] }) ?? "";
  const loadHelp = tryRun({ cmd: CLI, args: ["load", "--help"] }) ?? "";
  const imageHelp = tryRun({ cmd: CLI, args: ["create-image", "--help"] }) ?? "";
  return {
    linkModes: /--link\b/.test(containerHelp),
    tagRefs: /\btag\b/i.test(containerHelp) && /--tag\b/.test(loadHelp),
    compression: /--compression\b/.test(imageHelp),
  };
}

function freeSpace(dir: string): number {
  const stats = fs.statfsSync(dir);
  return stats.bavail * stats.bsize;
}

function readResult(file: string): BenchResult {
  const result = JSON.parse(fs.readFileSync(file, "utf8")) as BenchResult;
  if (result.schema !== 1 || !Array.isArray(result.sets)) throw new Error(`${file} is not a benchmark result`);
  return result;
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
}

async function decideReal(options: Options, python: string): Promise<{ real: boolean; note: string | null }> {
  if (options.real !== undefined) return { real: options.real, note: options.real ? null : "real set (Flask, numpy, pandas) skipped: --no-real or --quick" };
  if (realWheelsCached()) return { real: true, note: null };
  if (await indexReachable(python)) return { real: true, note: null };
  return { real: false, note: "real set skipped: its wheels are not cached and the package index did not answer within 3 s" };
}

/** The hostile-scale row as a set of its own. */
function hostileScale(python: string, quick: boolean, failures: string[]): SetResult {
  const scaleSizes: [number, number] = quick ? [2_000, 20_000] : [10_000, 100_000];
  const scale = measureScale(python, scaleSizes, quick ? 1 : 2, log);
  for (const m of scale.measurements) for (const failure of m.failures) failures.push(`hostile-scale: ${m.label}: ${failure.split("\n")[0] ?? ""}`);
  return {
    name: "hostile-scale",
    description: "a crafted layer whose files replace its directories, at two sizes: time per entry must stay flat",
    runs: quick ? 1 : 2,
    fixture: { wheels: 0, wheelBytes: 0, referenceFiles: 0, referenceBytes: 0 },
    sizes: {},
    measurements: Object.fromEntries(scale.measurements.map((measurement) => [measurement.id, measurement])),
    comparisons: scale.comparisons,
    notes: [scale.note],
  };
}

/** The serve rows as a set of their own; without bwrap (or a serve command), an empty set that says why. */
async function serveRows(python: string, options: Options, real: boolean, failures: string[]): Promise<SetResult> {
  const description = "pypakr serve: an app through the gateway vs the same app started directly from a venv";
  const unavailable = serveUnavailable();
  const empty = { name: "serve", description, runs: 0, fixture: { wheels: 0, wheelBytes: 0, referenceFiles: 0, referenceBytes: 0 }, sizes: {}, measurements: {}, comparisons: [] };
  if (unavailable) return { ...empty, notes: [unavailable] };
  log("measuring pypakr serve");
  const serve = await measureServe({ python, quick: options.quick, runs: options.runs, flask: real, log });
  for (const m of serve.measurements) for (const failure of m.failures) failures.push(`serve: ${m.label}: ${failure.split("\n")[0] ?? ""}`);
  return { ...empty, runs: options.runs, measurements: Object.fromEntries(serve.measurements.map((m) => [m.id, m])), comparisons: serve.comparisons, notes: serve.notes };
}

/** The export rows as a set of their own; when they cannot run here (not root, a tool missing), an empty set that says why. */
async function exportRows(python: string, options: Options, failures: string[]): Promise<SetResult> {
  const description = "pypakr export of a Flask app onto a Debian runtime vs a Dockerfile's venv + pip image";
  const empty = { name: "export", description, runs: 0, fixture: { wheels: 0, wheelBytes: 0, referenceFiles: 0, referenceBytes: 0 }, sizes: {}, measurements: {}, comparisons: [] };
  const unavailable = exportUnavailable();
  if (unavailable) return { ...empty, notes: [unavailable] };
  log("measuring pypakr export");
  const result = await measureExport({ python, runs: options.runs, log });
  for (const m of result.measurements) for (const failure of m.failures) failures.push(`export: ${m.label}: ${failure.split("\n")[0] ?? ""}`);
  return { ...empty, runs: options.runs, fixture: result.fixture, sizes: result.sizes, measurements: Object.fromEntries(result.measurements.map((m) => [m.id, m])), comparisons: result.comparisons, notes: result.notes };
}

/** The hub rows as a set of their own; without docker-registry (or a hub command), an empty set that says why. */
async function hubRows(python: string, options: Options, failures: string[]): Promise<SetResult> {
  const description = "pypakr hub beside docker-registry over generated repositories: page and search latency, push -> searchable, memory";
  const empty = { name: "hub", description, runs: 0, fixture: { wheels: 0, wheelBytes: 0, referenceFiles: 0, referenceBytes: 0 }, sizes: {}, measurements: {}, comparisons: [] };
  const unavailable = hubUnavailable();
  if (unavailable) return { ...empty, notes: [unavailable] };
  log("measuring pypakr hub");
  const result = await measureHub({ python, quick: options.quick, runs: options.runs, log });
  for (const m of result.measurements) for (const failure of m.failures) failures.push(`hub: ${m.label}: ${failure.split("\n")[0] ?? ""}`);
  return { ...empty, runs: options.runs, sizes: result.sizes, measurements: Object.fromEntries(result.measurements.map((m) => [m.id, m])), comparisons: result.comparisons, notes: result.notes };
}

/** Runs everything; `cleanup` deletes the runs' outputs (left for after the report, as it takes a while). */
async function benchmark(options: Options): Promise<{ result: BenchResult; cleanup: () => void }> {
  const started = new Date();
  if (options.clean) {
    log("removing bench/work");
    fs.rmSync(WORK, { recursive: true, force: true });
  }
  fs.mkdirSync(WORK, { recursive: true });
  const build = snapshotCli();
  fs.writeFileSync(PYPAKR_CONFIG, "# empty on purpose: the benchmark ignores ~/.pypakr\n");
  const python = resolvePython(options.python);
  const notes: string[] = [];
  const failures: string[] = [];

  const wanted = (part: Part) => options.only.includes(part);
  // uv and venv-pack are the fixture sets' peers (and pip downloads the serve wheels); the other parts need neither.
  if (wanted("sets") || wanted("serve") || wanted("export")) ensureTools(python);
  const sets: FixtureSet[] = wanted("sets") ? [syntheticSet(python, options.quick)] : [];
  const { real, note } = await decideReal(options, python);
  if (note) notes.push(note);
  if (real && wanted("sets")) {
    try {
      sets.push(realSet(python));
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      notes.push(`real set skipped: ${text.split("\n")[0] ?? text}`);
      log(`real set unavailable:\n${text}`);
    }
  }

  run({ cmd: CLI, args: ["--version"] });
  const features = detectFeatures();
  const space = freeSpace(WORK);
  const deleteEachRun = space < SPACE_TO_KEEP_OUTPUTS;
  if (deleteEachRun) {
    notes.push(`only ${(space / 1024 ** 3).toFixed(1)} GiB free in bench/work: each run's output was deleted right after it, which slows the next file-creating run on some filesystems`);
  }
  if (describeMount(WORK).ext4WithoutJournal) {
    const since = secondsSinceLastCleanUp();
    notes.push(
      "bench/work is on ext4 without a journal: creating a file there skips every inode deleted in the last 1-6 minutes, so commands that create many files " +
        "(create-image, pip, --link copy, tar, cp -r) run slower after mass deletions, including create-image's own deletion of its work venv on every build." +
        (since !== null && since < 360 ? ` The previous benchmark deleted its outputs only ${since.toFixed(0)} s before this one started, which slows this run's first minutes.` : ""),
    );
  }
  const ctx: Context = { python, startupRuns: options.startupRuns, features, deleteEachRun, log };
  const results: SetResult[] = [];
  try {
    for (const [index, set] of sets.entries()) {
      log(`measuring ${set.name} (${options.runs} runs)`);
      const result = measureSet(set, options.runs, ctx, index === 0);
      for (const m of Object.values(result.measurements)) {
        for (const failure of m.failures) failures.push(`${set.name}: ${m.label}: ${failure.split("\n")[0] ?? ""}`);
      }
      results.push(result);
    }
    const [first] = sets;
    const firstResult = results[0];
    if (first && firstResult) {
      const transfer = await measureTransfer(first, path.join(scratchOf(first), "image.tar"), python, log);
      if (transfer) {
        firstResult.comparisons.push(transfer.comparison);
        Object.assign(firstResult.sizes, transfer.sizes);
        firstResult.notes.push(transfer.note);
      } else {
        notes.push("push transfer skipped: Debian's docker-registry is not installed (apt-get install docker-registry)");
      }
    }
    if (wanted("scale")) results.push(hostileScale(python, options.quick, failures));
    if (wanted("serve")) results.push(await serveRows(python, options, real, failures));
    if (wanted("export")) results.push(await exportRows(python, options, failures));
    if (wanted("hub")) results.push(await hubRows(python, options, failures));
  } catch (error) {
    cleanUp(sets);
    throw error;
  }
  if (options.only.length < PARTS.length) notes.push(`only ${options.only.join(", ")} (--only)`);
  if (wanted("sets")) notes.push(
    "'python -m venv + pip install' is timed once and used for both create-container and create-image; pip compiles bytecode (its default), pypakr and uv do not.",
    "venv-pack packs two pip-made venvs of each set: one as pip leaves it by default (bytecode compiled), the way a user would pack one, and one installed with --no-compile (no bytecode, the same files as a pypakr image); both carry the venv's own pip and setuptools, an image does not. The unpack row unpacks the one without bytecode.",
    "peak RSS: one untimed run per command after the timed ones, the largest resident set of a child process (getrusage RUSAGE_CHILDREN); for pypakr, the node process its launcher execs.",
    "targets: create-container -i TAG <= 1.5x cp -al and < 1.0x uv, -i IMAGE.tar (hashing it) <= 2x cp -al, empty store <= 1.2x venv-pack unpack; " +
      "peak RSS of create-container -i IMAGE.tar <= 150 MB on the generated set; image <= 1.1x the wheels, <= 0.45x venv-pack with bytecode and <= 0.6x without; " +
      "--compression max image <= 0.4x and <= 0.5x; create-image <= 1.15x pip; pypakr run <= +60 ms.",
  );

  const finished = new Date();
  const pip = sets[0] ? path.join(sets[0].referenceEnv, "bin", "pip") : null;
  const result: BenchResult = {
    schema: 1,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: (finished.getTime() - started.getTime()) / 1000,
    options: { runs: options.runs, startupRuns: options.startupRuns, quick: options.quick, real, features },
    machine: { ...describeMachine(python, pip), pypakrBuild: build },
    sets: results,
    notes,
    failures,
  };
  return {
    result,
    cleanup: () => {
      log("deleting the runs' outputs");
      cleanUp(sets);
    },
  };
}

function save(result: BenchResult): string {
  fs.mkdirSync(RESULTS, { recursive: true });
  const text = JSON.stringify(result, null, 2) + "\n";
  const file = path.join(RESULTS, `${timestamp(new Date(result.startedAt))}.json`);
  fs.writeFileSync(file, text);
  fs.writeFileSync(path.join(RESULTS, "latest.json"), text);
  return file;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // Read the earlier result first: latest.json is about to be overwritten.
  const before = options.compare ? readResult(options.compare) : null;
  let result: BenchResult;
  let cleanup = () => {};
  if (options.load) {
    result = readResult(options.load);
  } else {
    ({ result, cleanup } = await benchmark(options));
    const file = save(result);
    log(`wrote ${path.relative(process.cwd(), file)} and bench/results/latest.json`);
  }
  process.stdout.write("\n" + formatResult(result));
  if (before && options.compare) process.stdout.write("\n" + formatChange(before, result, options.compare));
  cleanup();
  return result.failures.length ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`bench: error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
