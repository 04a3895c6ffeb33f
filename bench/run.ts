/**
 * pypakr's benchmark: `npm run bench` (= build, then node dist/bench/run.js).
 *
 * Measures create-container, create-image, image size and `pypakr run`
 * start-up against pip, uv, venv-pack and cp on the same packages, prints the
 * machine and a table of medians and ratios, and writes
 * bench/results/<timestamp>.json and bench/results/latest.json. See
 * bench/README.md.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ensureTools, indexReachable, realSet, realWheelsCached, resolvePython, syntheticSet, type FixtureSet } from "./lib/fixtures.js";
import { describeMachine } from "./lib/machine.js";
import { measureSet, type Context, type SetResult } from "./lib/measure.js";
import { parseOptions, USAGE, type Options } from "./lib/options.js";
import { CLI, PYPAKR_CONFIG, RESULTS, WORK } from "./lib/paths.js";
import { run } from "./lib/proc.js";
import { formatChange, formatResult, type BenchResult } from "./lib/report.js";

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
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

async function benchmark(options: Options): Promise<BenchResult> {
  const started = new Date();
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build)`);
  if (options.clean) {
    log("removing bench/work");
    fs.rmSync(WORK, { recursive: true, force: true });
  }
  fs.mkdirSync(WORK, { recursive: true });
  fs.writeFileSync(PYPAKR_CONFIG, "# empty on purpose: the benchmark ignores ~/.pypakr\n");
  const python = resolvePython(options.python);
  const notes: string[] = [];
  const failures: string[] = [];

  ensureTools(python);
  const sets: FixtureSet[] = [syntheticSet(python, options.quick)];
  const { real, note } = await decideReal(options, python);
  if (note) notes.push(note);
  if (real) {
    try {
      sets.push(realSet(python));
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      notes.push(`real set skipped: ${text.split("\n")[0] ?? text}`);
      log(`real set unavailable:\n${text}`);
    }
  }

  const help = run({ cmd: process.execPath, args: [CLI, "create-container", "--help"] });
  const ctx: Context = { python, runs: options.runs, startupRuns: options.startupRuns, linkModes: /--link\b/.test(help), log };
  const results: SetResult[] = [];
  for (const [index, set] of sets.entries()) {
    log(`measuring ${set.name}`);
    const result = measureSet(set, ctx, index === 0);
    for (const m of Object.values(result.measurements)) if (m.error) failures.push(`${set.name}: ${m.label}: ${m.error.split("\n")[0] ?? ""}`);
    results.push(result);
  }
  notes.push(
    "'python -m venv + pip install' is timed once and used for both create-container and create-image; pip compiles bytecode (its default), pypakr and uv do not.",
    "venv-pack packs a pip-made venv installed with --no-compile (no bytecode, like a pypakr image); it carries the venv's own pip and setuptools, an image does not.",
    "targets: create-container <= 1.5x cp -al and < 1.0x uv; image <= 1.1x the wheels and <= 0.5x venv-pack; create-image <= 1.15x pip; pypakr run <= +60 ms.",
  );

  const finished = new Date();
  const pip = sets[0] ? path.join(sets[0].referenceEnv, "bin", "pip") : null;
  return {
    schema: 1,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: (finished.getTime() - started.getTime()) / 1000,
    options: { runs: options.runs, startupRuns: options.startupRuns, quick: options.quick, real },
    machine: describeMachine(python, pip),
    sets: results,
    notes,
    failures,
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
  if (options.load) {
    result = readResult(options.load);
  } else {
    result = await benchmark(options);
    const file = save(result);
    log(`wrote ${path.relative(process.cwd(), file)} and bench/results/latest.json`);
  }
  process.stdout.write("\n" + formatResult(result));
  if (before && options.compare) process.stdout.write("\n" + formatChange(before, result, options.compare));
  return result.failures.length ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`bench: error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
