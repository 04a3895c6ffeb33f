/**
 * Everything the measurements need, made once and cached under bench/work:
 * the tools venv (uv, venv-pack from the package index), the generated
 * wheels, the optional real wheels, a pypakr source per set, and two
 * reference venvs of each set packed with venv-pack: one without bytecode
 * (the same files as a pypakr image) and one as pip leaves it by default,
 * bytecode compiled (what a user who packs a pip-made venv ships).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { GENERATOR, REAL_WHEELS, TOOLS, TOOLS_PIP, UV, VENV_PACK, WORK } from "./paths.js";
import { benchEnv, run, tryRun } from "./proc.js";

export interface FixtureSet {
  name: string;
  description: string;
  dir: string;
  wheelsDir: string;
  wheelCount: number;
  wheelBytes: number;
  /** What pip and uv are asked to install (the source's setup installs the same). */
  requirements: string[];
  source: string;
  /** `python -m venv` + `pip install --no-compile` of the requirements, packed by venv-pack. */
  referenceEnv: string;
  venvPackArchive: string;
  /** The same install as pip leaves it by default (bytecode compiled), packed by venv-pack; the venv itself is deleted after packing. */
  venvPackBytecodeArchive: string;
  /** Files and bytes of the reference venv (including its own pip and setuptools). */
  referenceFiles: number;
  referenceBytes: number;
  /** From the generator, for the synthetic sets. */
  generated?: { files: number; installedBytes: number };
}

/** The real set, pinned so results stay comparable; their dependencies come along unpinned once. */
export const REAL_REQUIREMENTS = ["flask==3.1.3", "numpy==2.4.6", "pandas==3.1.1"];

interface SyntheticSpec {
  wheels: number;
  files: number;
  bytes: number;
}

export const FULL_SPEC: SyntheticSpec = { wheels: 30, files: 170, bytes: 3_600_000 };
export const QUICK_SPEC: SyntheticSpec = { wheels: 12, files: 50, bytes: 1_000_000 };

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** The interpreter itself, not a shim (pyenv's shims would add their own start-up to every timing). */
export function resolvePython(requested: string | undefined): string {
  const candidate = requested ?? "python3";
  const real = tryRun({ cmd: candidate, args: ["-c", "import os, sys; print(os.path.realpath(sys.executable))"] });
  if (!real) throw new Error(`cannot run ${candidate}; pass --python PATH`);
  return real;
}

/** bench/work/tools: a venv with uv and venv-pack, installed from the package index (the user's pip settings apply). */
export function ensureTools(python: string): void {
  if (fs.existsSync(UV) && fs.existsSync(VENV_PACK)) return;
  log("installing uv and venv-pack into bench/work/tools");
  fs.rmSync(TOOLS, { recursive: true, force: true });
  run({ cmd: python, args: ["-m", "venv", TOOLS] });
  run({ cmd: TOOLS_PIP, args: ["install", "--disable-pip-version-check", "uv", "venv-pack"] });
}

function wheelFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(".whl"))
    .sort()
    .map((name) => path.join(dir, name));
}

export function treeSize(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        files += 1;
        bytes += fs.statSync(full).size;
      } else files += 1;
    }
  };
  walk(dir);
  return { files, bytes };
}

function quote(word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`;
}

/**
 * A pypakr source whose setup pip-installs the set. The wheels stay outside
 * the source (named by absolute path), so the image holds the installed
 * files only, not the wheels as app files too.
 */
function writeSource(dir: string, wheelsDir: string, requirements: string[], entry: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const setup = `#!/bin/sh\nset -e\nexec pip install --no-index --find-links ${quote(wheelsDir)} ${requirements.map(quote).join(" ")}\n`;
  fs.writeFileSync(path.join(dir, "setup"), setup, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, "run"), `#!/bin/sh\nexec ${entry} "$@"\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, "app.txt"), "pypakr benchmark app\n");
}

/**
 * Bumped whenever what the cached fixtures hold changes, so older caches are
 * rebuilt (2: the with-bytecode reference archive).
 */
const FIXTURE_LAYOUT = 2;

/**
 * The set installed by pip into a fresh venv twice and packed by venv-pack
 * each time: once with --no-compile (no bytecode, as pypakr's images), once
 * as pip leaves it by default (bytecode compiled). The first venv stays (its
 * pip and its file count serve the report); the second is deleted once
 * packed, as only its archive is measured.
 */
function makeReference(dir: string, python: string, wheelsDir: string, requirements: string[]): { env: string; archive: string; bytecodeArchive: string } {
  const vars = benchEnv(python);
  const pack = (env: string, archive: string, pipOptions: string[]) => {
    run({ cmd: python, args: ["-m", "venv", env] }, vars);
    run({ cmd: path.join(env, "bin", "pip"), args: ["install", ...pipOptions, "--no-index", "--find-links", wheelsDir, ...requirements] }, vars);
    run({ cmd: VENV_PACK, args: ["-p", env, "-o", archive] }, vars);
  };
  log(`making the reference venvs and their venv-pack archives in ${path.relative(WORK, dir)}`);
  const env = path.join(dir, "ref-env");
  const archive = path.join(dir, "venv-pack.tar.gz");
  pack(env, archive, ["--no-compile"]);
  const bytecodeEnv = path.join(dir, "ref-env-bytecode");
  const bytecodeArchive = path.join(dir, "venv-pack-bytecode.tar.gz");
  pack(bytecodeEnv, bytecodeArchive, []);
  fs.rmSync(bytecodeEnv, { recursive: true, force: true });
  return { env, archive, bytecodeArchive };
}

interface Stamp {
  key: string;
  set: FixtureSet;
}

/** Reuses `dir` when its stamp has `key`; otherwise rebuilds it with `make` and stamps it last. */
function cached(dir: string, key: string, make: () => FixtureSet): FixtureSet {
  const stampFile = path.join(dir, "stamp.json");
  try {
    const stamp = JSON.parse(fs.readFileSync(stampFile, "utf8")) as Stamp;
    const { set } = stamp;
    if (stamp.key === key && [set.venvPackArchive, set.venvPackBytecodeArchive, set.source].every((file) => typeof file === "string" && fs.existsSync(file))) return set;
  } catch {
    // no stamp or a damaged one: rebuild
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const set = make();
  fs.writeFileSync(stampFile, JSON.stringify({ key, set } satisfies Stamp, null, 1) + "\n");
  return set;
}

interface GeneratorSummary {
  names: string[];
  files: number;
  installedBytes: number;
  wheelBytes: number;
}

export function syntheticSet(python: string, quick: boolean): FixtureSet {
  const spec = quick ? QUICK_SPEC : FULL_SPEC;
  const name = quick ? "synthetic-quick" : "synthetic";
  const dir = path.join(WORK, "sets", name);
  const venvPack = tryRun({ cmd: VENV_PACK, args: ["--version"] }) ?? "";
  const key = sha256(JSON.stringify({ layout: FIXTURE_LAYOUT, spec, generator: sha256(fs.readFileSync(GENERATOR)), python, venvPack }));
  return cached(dir, key, () => {
    const wheelsDir = path.join(dir, "wheels");
    log(`generating ${spec.wheels} wheels in ${path.relative(WORK, wheelsDir)}`);
    const summary = JSON.parse(
      run({ cmd: python, args: [GENERATOR, wheelsDir, "--wheels", String(spec.wheels), "--files", String(spec.files), "--bytes", String(spec.bytes)] }),
    ) as GeneratorSummary;
    const source = path.join(dir, "src");
    writeSource(source, wheelsDir, summary.names, summary.names[0] ?? "python");
    const reference = makeReference(dir, python, wheelsDir, summary.names);
    const size = treeSize(reference.env);
    return {
      name,
      description: `${spec.wheels} generated pure-Python wheels`,
      dir,
      wheelsDir,
      wheelCount: summary.names.length,
      wheelBytes: wheelFiles(wheelsDir).reduce((sum, file) => sum + fs.statSync(file).size, 0),
      requirements: summary.names,
      source,
      referenceEnv: reference.env,
      venvPackArchive: reference.archive,
      venvPackBytecodeArchive: reference.bytecodeArchive,
      referenceFiles: size.files,
      referenceBytes: size.bytes,
      generated: { files: summary.files, installedBytes: summary.installedBytes },
    };
  });
}

/** The package index pip would use: PIP_INDEX_URL, else pip's own default. */
function indexUrl(python: string): string | null {
  if (process.env.PIP_INDEX_URL) return process.env.PIP_INDEX_URL;
  return tryRun({ cmd: python, args: ["-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"] });
}

export function realWheelsCached(): boolean {
  return fs.existsSync(path.join(REAL_WHEELS, "set.json"));
}

/** Whether the index answers within 3 s. */
export async function indexReachable(python: string): Promise<boolean> {
  const url = indexUrl(python);
  if (!url) return false;
  try {
    const response = await fetch(`${url.replace(/\/+$/, "")}/pip/`, { method: "HEAD", signal: AbortSignal.timeout(3000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** Downloads the real wheels once (bench/work/real-wheels), for this interpreter. */
function ensureRealWheels(): void {
  const marker = path.join(REAL_WHEELS, "set.json");
  if (fs.existsSync(marker)) {
    const recorded = (JSON.parse(fs.readFileSync(marker, "utf8")) as { requirements: string[] }).requirements;
    if (JSON.stringify(recorded) === JSON.stringify(REAL_REQUIREMENTS)) return;
  }
  const partial = `${REAL_WHEELS}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  log(`downloading ${REAL_REQUIREMENTS.join(" ")} into bench/work/real-wheels`);
  run({ cmd: TOOLS_PIP, args: ["download", "--disable-pip-version-check", "--only-binary", ":all:", "-d", partial, ...REAL_REQUIREMENTS] });
  fs.writeFileSync(path.join(partial, "set.json"), JSON.stringify({ layout: FIXTURE_LAYOUT, requirements: REAL_REQUIREMENTS, wheels: fs.readdirSync(partial).sort() }, null, 1) + "\n");
  fs.rmSync(REAL_WHEELS, { recursive: true, force: true });
  fs.renameSync(partial, REAL_WHEELS);
}

export function realSet(python: string): FixtureSet {
  ensureRealWheels();
  const dir = path.join(WORK, "sets", "real");
  const wheels = wheelFiles(REAL_WHEELS);
  const venvPack = tryRun({ cmd: VENV_PACK, args: ["--version"] }) ?? "";
  const key = sha256(JSON.stringify({ layout: FIXTURE_LAYOUT, requirements: REAL_REQUIREMENTS, wheels: wheels.map((file) => path.basename(file)), python, venvPack }));
  return cached(dir, key, () => {
    const source = path.join(dir, "src");
    writeSource(source, REAL_WHEELS, REAL_REQUIREMENTS, `python -c 'import flask, numpy, pandas; print(flask.__name__, numpy.__version__, pandas.__version__)'`);
    const reference = makeReference(dir, python, REAL_WHEELS, REAL_REQUIREMENTS);
    const size = treeSize(reference.env);
    return {
      name: "real",
      description: `Flask + numpy + pandas (${wheels.length} wheels with dependencies)`,
      dir,
      wheelsDir: REAL_WHEELS,
      wheelCount: wheels.length,
      wheelBytes: wheels.reduce((sum, file) => sum + fs.statSync(file).size, 0),
      requirements: REAL_REQUIREMENTS,
      source,
      referenceEnv: reference.env,
      venvPackArchive: reference.archive,
      venvPackBytecodeArchive: reference.bytecodeArchive,
      referenceFiles: size.files,
      referenceBytes: size.bytes,
    };
  });
}
