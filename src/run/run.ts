/**
 * `pypakr run`: the image's entry point (given the arguments after `--`, as
 * `docker run IMAGE ARGS` does), or with -r another program, inside a
 * container, as its venv's own activate script would set it up. The child gets our standard streams; its
 * exit code (or the signal that ended it) becomes ours.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { isatty } from "node:tty";
import { finishRelocation, movedError, movedFrom, readContainerRecord } from "../container/index.js";
import { venvEnvironment } from "../python/index.js";
import { PypakrError } from "../util/errors.js";
import { quote, shellWord, show } from "../util/printable.js";

export interface RunOptions {
  container: string;
  /** -r: a program to run instead of the entry point (a path in the container, or a command on the venv's PATH). */
  script?: string;
  /** For the entry point, or for the -r program. */
  args: string[];
}

/** The shell's exit codes for a command that cannot be found or cannot be executed. */
const NOT_FOUND = 127;
const NOT_EXECUTABLE = 126;

const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/** The same command line as the launch file's (src/container/launch.ts). */
export function commandLine(options: RunOptions, entrypoint: string[]): string[] {
  if (options.script !== undefined) return [options.script, ...options.args];
  return [...(entrypoint.length > 0 ? entrypoint : ["./run"]), ...options.args];
}

/** A path-like program (./run, scripts/x) must exist and be executable in the container. */
async function checkProgram(dir: string, program: string): Promise<void> {
  if (!program.includes("/")) return;
  const file = path.resolve(dir, program);
  const stat = await fs.stat(file).catch(() => null);
  if (!stat) throw new PypakrError(`${show(program)} does not exist in container ${dir}`, { code: "command-not-found", hint: "Name a script inside the container, or a command on its PATH, with -r.", exitCode: NOT_FOUND });
  if (!stat.isFile()) throw new PypakrError(`${show(program)} in container ${dir} is not a file`, { code: "not-executable", hint: "Name a script with -r." });
  try {
    await fs.access(file, fs.constants.X_OK);
  } catch {
    throw new PypakrError(`${show(program)} in container ${dir} is not executable`, { code: "not-executable", hint: `Make it executable in the source (chmod +x ${shellWord(program.startsWith("-") ? `./${program}` : program)}) and rebuild the image.`, exitCode: NOT_EXECUTABLE });
  }
}

/**
 * Runs to completion; resolves to the exit code to leave with. A program
 * ended by a signal ends pypakr by the same signal, as the launcher's exec
 * does (src/cli/pypakr.sh), so a caller sees what running it directly shows;
 * 128+n if that signal cannot end pypakr (Node ignores SIGPIPE).
 */
export async function runInContainer(options: RunOptions): Promise<number> {
  const dir = path.resolve(options.container);
  // A relocate killed after it committed is finished first (the record is the last file it renames).
  await finishRelocation(dir);
  const record = await readContainerRecord(dir);
  const from = await movedFrom(dir, record);
  if (from !== null) throw movedError(dir, from);
  const argv = commandLine(options, record.entrypoint);
  const [program = "./run", ...args] = argv;
  await checkProgram(dir, program);
  const env = { ...venvEnvironment(dir), ...record.environment };
  const child = spawn(program, args, { cwd: dir, env, stdio: "inherit" });

  // A Ctrl-C at a terminal reaches the child directly (same process group);
  // forwarding it too would interrupt it twice. Signals sent to pypakr alone
  // (kill, a supervisor) are passed on.
  // isatty(0), not process.stdin.isTTY: the latter builds a whole stdin stream just to answer.
  const interactive = isatty(0);
  const forward = (signal: NodeJS.Signals) => {
    if (signal === "SIGINT" && interactive) return;
    child.kill(signal);
  };
  for (const signal of FORWARDED) process.on(signal, forward);
  let ended: { code: number | null; signal: NodeJS.Signals | null };
  try {
    ended = await new Promise((resolve, reject) => {
      child.on("error", (error) => {
        const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
        reject(new PypakrError(missing ? `command ${quote(program)} was not found in container ${dir}` : `cannot run ${show(program)}: ${error.message}`, {
          code: missing ? "command-not-found" : "not-executable",
          hint: missing ? "Install it in the image (setup), or name a script inside the container with -r (e.g. -r ./scripts/x)." : undefined,
          exitCode: missing ? NOT_FOUND : NOT_EXECUTABLE,
        }));
      });
      child.on("exit", (code, signal) => resolve({ code, signal }));
    });
  } finally {
    for (const signal of FORWARDED) process.off(signal, forward);
  }
  if (!ended.signal) return ended.code ?? 1;
  process.kill(process.pid, ended.signal);
  return 128 + (os.constants.signals[ended.signal] ?? 0);
}
