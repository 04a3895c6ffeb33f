/** Where the benchmark lives, works and writes, and how it reaches the built CLI. */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/bench/lib -> repository root */
export const REPO = path.resolve(here, "..", "..", "..");
export const BENCH = path.join(REPO, "bench");
/** Everything the benchmark builds or caches; git-ignored. */
export const WORK = path.join(BENCH, "work");
export const RESULTS = path.join(BENCH, "results");
/** The CLI as built in the repository: the bundle the package's bin runs. */
export const BUILT_CLI_DIR = path.join(REPO, "dist", "bundle");
/**
 * The CLI the benchmark runs: a copy of the bundle (self-contained, version
 * built in) taken at the start, so a rebuild during the run cannot mix two
 * versions.
 */
export const SNAPSHOT = path.join(WORK, "pypakr");
/** The launcher, as the package's bin: `pypakr run` goes through it as a user's would. */
export const CLI = path.join(SNAPSHOT, "pypakr");
export const GENERATOR = path.join(BENCH, "make_fixtures.py");

export const TOOLS = path.join(WORK, "tools");
export const UV = path.join(TOOLS, "bin", "uv");
export const VENV_PACK = path.join(TOOLS, "bin", "venv-pack");
export const TOOLS_PIP = path.join(TOOLS, "bin", "pip");
/** pypakr's private home (bases, tmp): the user's own store is never touched. */
export const PYPAKR_HOME = path.join(WORK, "home");
/** An empty config file, so a ~/.pypakr of the user's cannot change what is measured. */
export const PYPAKR_CONFIG = path.join(WORK, "pypakr.ini");
export const PIP_CACHE = path.join(WORK, "cache", "pip");
export const UV_CACHE = path.join(WORK, "cache", "uv");
export const REAL_WHEELS = path.join(WORK, "real-wheels");
/** Per-run scratch space: containers, venvs and images made while timing. Same filesystem as WORK, so cp -al works. */
export const SCRATCH = path.join(WORK, "s");
