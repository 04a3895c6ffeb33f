/**
 * The system tools the export tests drive (mmdebstrap, umoci, runc, tar):
 * each run bounded in time, its output kept for the error that explains a
 * failure, and a missing tool named with the package that provides it.
 */
import { spawn, spawnSync } from "node:child_process";

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved, at most MAX_OUTPUT_CHARS of the end. */
  output: string;
}

export interface ToolOptions {
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Where the tool's stdin, stdout and stderr go when not captured (file
   * descriptors): a filter from one file into another, or a tool whose
   * children keep its stdout and stderr open after it exits (`runc run
   * --detach`), which must not be pipes then: the run would end only with them.
   */
  stdin?: number;
  stdout?: number;
  stderr?: number;
}

/** Enough of a failing tool's output to see why (mmdebstrap prints its last apt error at the end). */
const MAX_OUTPUT_CHARS = 64 * 1024;

/** Runs `command args`; resolves with its exit, killing it (SIGKILL) when it outlives `timeoutMs`. */
export function runTool(command: string, args: string[], options: ToolOptions): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.stdin ?? "ignore", options.stdout ?? "pipe", options.stderr ?? "pipe"],
    });
    let output = "";
    const keep = (chunk: string) => {
      output += chunk;
      if (output.length > 2 * MAX_OUTPUT_CHARS) output = output.slice(-MAX_OUTPUT_CHARS);
    };
    child.stdout?.setEncoding("utf8").on("data", keep);
    child.stderr?.setEncoding("utf8").on("data", keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
      // A process the tool left behind may hold the pipes open: stop reading them, or "close" never comes.
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (timedOut) output += `\n(${command} killed: still running after ${options.timeoutMs} ms)`;
      resolve({ code, signal, output: output.slice(-MAX_OUTPUT_CHARS) });
    });
  });
}

/** Like runTool, but a non-zero exit throws with the command line and its output. */
export async function runToolOk(command: string, args: string[], options: ToolOptions): Promise<ToolResult> {
  const result = await runTool(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(" ")} failed (exit ${result.code ?? result.signal}):\n${result.output}`);
  return result;
}

/**
 * Throws, naming every missing command and the Debian package that has it,
 * when one of `commands` (command -> package) is not on PATH. The tests
 * that need them fail rather than skip: CI installs them (scripts/test.sh).
 */
export function requireTools(commands: Record<string, string>, purpose: string): void {
  const missing = Object.keys(commands).filter((name) => spawnSync("/bin/sh", ["-c", 'command -v "$1"', "sh", name]).status !== 0);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((name) => commands[name]))];
  throw new Error(
    `${purpose} needs ${missing.join(", ")}, which ${missing.length === 1 ? "is" : "are"} not installed: run \`bash scripts/test.sh\` (it installs ${packages.length === 1 ? "it" : "them"}) or \`apt-get install ${packages.join(" ")}\``,
  );
}

/** The reason to skip a test that needs root (runc, mmdebstrap's root mode), or false when running as root. */
export function requireRoot(purpose: string): string | false {
  const uid = process.getuid?.() ?? 0;
  return uid === 0 ? false : `${purpose} needs root (runc runs containers, mmdebstrap builds a rootfs as root); this process runs as uid ${uid} (CI runs as root)`;
}
