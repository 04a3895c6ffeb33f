/**
 * Running commands: plain runs for setup, and timed runs that measure only
 * the commands themselves (process.hrtime.bigint around spawnSync).
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import * as os from "node:os";
import { PIP_CACHE, PYPAKR_CONFIG, PYPAKR_HOME, UV_CACHE } from "./paths.js";

export interface Step {
  cmd: string;
  args: string[];
  cwd?: string;
  /** Replaces the environment given to run/timeSteps for this step. */
  env?: NodeJS.ProcessEnv;
}

export class CommandFailed extends Error {
  constructor(
    readonly step: Step,
    readonly status: number | null,
    readonly output: string,
  ) {
    super(`${describe(step)} failed (${status === null ? "killed" : `exit ${status}`})\n${tail(output, 40)}`);
  }
}

export function describe(step: Step): string {
  const words = [step.cmd, ...step.args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`));
  const line = words.join(" ");
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

const MAX_BUFFER = 256 * 1024 * 1024;

function spawnStep(step: Step, env: NodeJS.ProcessEnv, timeoutMs: number): SpawnSyncReturns<Buffer> {
  return spawnSync(step.cmd, step.args, { cwd: step.cwd, env: step.env ?? env, stdio: ["ignore", "pipe", "pipe"], maxBuffer: MAX_BUFFER, timeout: timeoutMs });
}

function check(step: Step, result: SpawnSyncReturns<Buffer>): void {
  if (result.error) throw new CommandFailed(step, null, String(result.error));
  if (result.status !== 0) throw new CommandFailed(step, result.status, `${result.stdout.toString()}\n${result.stderr.toString()}`);
}

/** Runs one command to completion and returns its stdout; throws CommandFailed with its output. */
export function run(step: Step, env: NodeJS.ProcessEnv = process.env, timeoutMs = 30 * 60_000): string {
  const result = spawnStep(step, env, timeoutMs);
  check(step, result);
  return result.stdout.toString();
}

/** Like run, but returns null instead of throwing (for optional facts such as versions). */
export function tryRun(step: Step, env: NodeJS.ProcessEnv = process.env): string | null {
  try {
    return run(step, env, 60_000).trim();
  } catch {
    return null;
  }
}

/**
 * Runs the steps one after another and returns the wall time they took in
 * milliseconds; nothing but the spawns is inside the timed region. A step
 * given as a function is decided when its turn comes (e.g. "run conda-unpack
 * if the archive had one").
 */
export function timeSteps(steps: readonly (Step | (() => Step | null))[], env: NodeJS.ProcessEnv, timeoutMs = 30 * 60_000): number {
  let elapsed = 0n;
  for (const item of steps) {
    const step = typeof item === "function" ? item() : item;
    if (step === null) continue;
    const start = process.hrtime.bigint();
    const result = spawnStep(step, env, timeoutMs);
    elapsed += process.hrtime.bigint() - start;
    check(step, result);
  }
  return Number(elapsed) / 1e6;
}

/**
 * The environment every timed command runs in: the user's, less anything
 * that would change what pip, uv or pypakr do (their config files, find-links,
 * index settings, an active venv), with private caches and a private pypakr
 * home. pypakr's setup script inherits it too, so its pip sees the same.
 */
export function benchEnv(python: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const drop = /^(PIP_|UV_|PYPAKR_|CONDA_|VIRTUAL_ENV$|PYTHONPATH$|PYTHONHOME$|PYTHONSTARTUP$|PYTHONDONTWRITEBYTECODE$|PYTHONNOUSERSITE$|SOURCE_DATE_EPOCH$)/;
  for (const key of Object.keys(env)) if (drop.test(key)) delete env[key];
  return {
    ...env,
    PIP_CONFIG_FILE: os.devNull,
    PIP_DISABLE_PIP_VERSION_CHECK: "1",
    PIP_NO_INPUT: "1",
    PIP_CACHE_DIR: PIP_CACHE,
    UV_CACHE_DIR: UV_CACHE,
    UV_NO_CONFIG: "1",
    UV_PYTHON_DOWNLOADS: "never",
    PYPAKR_HOME,
    PYPAKR_CONFIG,
    PYPAKR_PYTHON: python,
  };
}
