/**
 * Shared by the test files: run the built CLI as a user would, in a private
 * home; build tiny wheels and sources offline; snapshot directories to prove
 * that failures leave nothing behind.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/support -> repository root */
export const REPO = path.resolve(here, "..", "..", "..");
/** The package's bin: the launcher that runs the bundled CLI (or, for `run`, the program itself). */
export const CLI = path.join(REPO, "dist", "bundle", "pypakr");
const MAKE_WHEEL = path.join(REPO, "test", "fixtures", "make_wheel.py");

/**
 * One pypakr home for all test files, so the base venv is made once per
 * machine (init is safe to race: the loser keeps the winner's base). Tests
 * that need an empty home make their own.
 */
export const SHARED_HOME = path.join(os.tmpdir(), `pypakr-tests-${process.getuid?.() ?? 0}`, "home");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  home?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

/** The environment a test user has: its own HOME, no config file, one pypakr home. */
export function cliEnv(options: CliOptions = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.PYPAKR_CONFIG;
  delete env.PYPAKR_PYTHON;
  delete env.SOURCE_DATE_EPOCH;
  return { ...env, PYPAKR_HOME: options.home ?? SHARED_HOME, ...options.env };
}

export function pypakr(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, args, { cwd: options.cwd ?? os.tmpdir(), env: cliEnv(options), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    // A program may exit without reading its input (run execs it at once): the pipe is then closed, and that is no failure.
    child.stdin.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") reject(error);
    });
    child.stdin.end(options.input ?? "");
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Fails with the command's output, which is what one needs to see when it breaks. */
export function expectOk(result: CliResult, what: string): CliResult {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
  return result;
}

export async function makeTempDir(prefix = "pypakr-test-"): Promise<string> {
  return fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
}

export async function removeDir(dir: string): Promise<void> {
  // Retries: a fuzz run cut short by its time limit may still be writing into the dir for a moment (ENOTEMPTY).
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

export interface WheelSpec {
  name: string;
  version?: string;
  files?: Record<string, string>;
  scripts?: Record<string, string>;
  requires?: string[];
  /** More METADATA header lines ("License-Expression: MIT"). */
  metadata?: string[];
}

export function makeWheel(dir: string, spec: WheelSpec): string {
  const args = [MAKE_WHEEL, dir, spec.name, spec.version ?? "1.0"];
  for (const [file, content] of Object.entries(spec.files ?? {})) args.push("--file", `${file}=${content}`);
  for (const [name, target] of Object.entries(spec.scripts ?? {})) args.push("--script", `${name}=${target}`);
  for (const requirement of spec.requires ?? []) args.push("--requires", requirement);
  for (const line of spec.metadata ?? []) args.push("--metadata", line);
  const result = spawnSync("python3", args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`make_wheel failed: ${result.stderr}`);
  return result.stdout.trim();
}

export async function writeExecutable(file: string, content: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, content, { mode: 0o755 });
}

/** The original's "jokes" walkthrough: setup installs two local packages, run prints a joke. */
export const JOKE = "Why did the venv cross the road? To get to the other site-packages.";

export async function makeJokesSource(dir: string): Promise<string> {
  const packages = path.join(dir, "packages");
  makeWheel(packages, { name: "jokes-core", files: { "jokes_core/__init__.py": `JOKES = [${JSON.stringify(JOKE)}]\n` } });
  makeWheel(packages, {
    name: "jokes-cli",
    requires: ["jokes-core"],
    files: { "jokes_cli/__init__.py": "import sys\nfrom jokes_core import JOKES\n\ndef main():\n    print(JOKES[0])\n    print('args:', ' '.join(sys.argv[1:]))\n" },
    scripts: { joke: "jokes_cli:main" },
  });
  await writeExecutable(path.join(dir, "setup"), "#!/bin/sh\nset -e\npip install --no-index --find-links packages jokes-cli\n");
  await writeExecutable(path.join(dir, "run"), '#!/bin/sh\nexec joke "$@"\n');
  await fs.writeFile(path.join(dir, "README.txt"), "app files travel with the image\n");
  return dir;
}

export function tarDirectory(dir: string, tarFile: string, gzip = false): string {
  const result = spawnSync("tar", [gzip ? "-czf" : "-cf", tarFile, "-C", dir, "."], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`tar failed: ${result.stderr}`);
  return tarFile;
}

/** Every path under `dir`, for before/after comparisons. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (current: string, prefix: string) => {
    let names: string[];
    try {
      names = await fs.readdir(current);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const relative = prefix ? `${prefix}/${name}` : name;
      out.push(relative);
      const stat = await fs.lstat(path.join(current, name));
      if (stat.isDirectory()) await walk(path.join(current, name), relative);
    }
  };
  await walk(dir, "");
  return out;
}

export function sh(command: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync("/bin/sh", ["-c", command], { encoding: "utf8", cwd: options.cwd, env: options.env ?? process.env });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Builds the jokes image once into `dir`; returns the image path. */
export async function buildJokesImage(dir: string, options: CliOptions = {}): Promise<string> {
  const source = await makeJokesSource(path.join(dir, "jokes-src"));
  const tar = tarDirectory(source, path.join(dir, "jokes.tar"));
  const image = path.join(dir, "jokes-image.tar");
  expectOk(await pypakr(["create-image", "-s", tar, "-i", image, "-t", "jokes:1"], options), "create-image");
  return image;
}

/**
 * A pypakr home of the test's own (so its tmp dir can be checked for
 * leftovers) that shares the machine-wide base instead of making another.
 */
export async function privateHome(dir: string): Promise<string> {
  expectOk(await pypakr(["init"]), "init of the shared base");
  const home = path.join(dir, "home");
  await fs.mkdir(home, { recursive: true });
  await fs.symlink(path.join(SHARED_HOME, "bases"), path.join(home, "bases"));
  return home;
}

/** A suite's temp dir and the private pypakr home in it (see privateHome). */
export interface PrivateHome {
  dir: string;
  home: string;
}

/**
 * The setup most e2e suites share: before the suite's tests, a fresh temp
 * dir named by `prefix` holding a private home, then the suite's own
 * `setup` (Node 20 runs a file's top-level before hooks at once, not in
 * turn, so setup that needs the home goes here, not in a hook of its own);
 * after them, the dir removed. The fields are set once the hook has run:
 * read them in hooks and tests, not at load time.
 */
export function usePrivateHome(options: { prefix?: string; setup?: () => Promise<void> } = {}): PrivateHome {
  const own: PrivateHome = { dir: "", home: "" };
  before(async () => {
    own.dir = await makeTempDir(options.prefix);
    own.home = await privateHome(own.dir);
    await options.setup?.();
  });
  after(() => removeDir(own.dir));
  return own;
}

/** What a failed command must look like: an error and a hint, no stack trace, a non-zero exit. */
export function expectCleanFailure(result: CliResult, message: RegExp): void {
  if (result.code === 0) throw new Error(`expected a failure, got exit 0\n${result.stderr}`);
  if (!message.test(result.stderr)) throw new Error(`stderr does not match ${message}:\n${result.stderr}`);
  if (!/pypakr: error: /.test(result.stderr) || !/pypakr: hint: /.test(result.stderr)) throw new Error(`no error + hint:\n${result.stderr}`);
  if (/\n\s+at \S+ \(/.test(result.stderr) || /internal error/.test(result.stderr)) throw new Error(`stack trace or internal error:\n${result.stderr}`);
}

/** A pypakr home at `at` with a store of its own that shares `home`'s bases (no second init). */
export async function homeSharingBases(home: string, at: string): Promise<string> {
  await fs.mkdir(at, { recursive: true });
  await fs.symlink(path.join(home, "bases"), path.join(at, "bases"));
  return at;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS's pick), for a server the test starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
