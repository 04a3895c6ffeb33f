import { spawn } from "node:child_process";
import { waitForGroup } from "./process-group.js";
import { writeErr } from "./log.js";

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a short command and collects its output (for introspection and
 * helpers, not for user-facing work). `input` goes to its stdin (else it has
 * none); after `timeoutMs` it is killed, and its result says so.
 */
export function capture(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const { input, timeoutMs, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    if (input !== undefined && child.stdin) {
      // A command that exits without reading its input must not fail us with EPIPE.
      child.stdin.on("error", () => undefined);
      child.stdin.end(input);
    }
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Runs a user-facing command: its stdout and stderr are shown live on our
 * stderr (our stdout stays free for results), whole and once. What it prints
 * passes the printable rule like all our output (a source's setup is a stranger's code); carriage returns,
 * which progress meters use to redraw a line, become line breaks.
 */
export function runShowingOutput(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string },
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    // Its own process group, which ends with it (see process-group.ts).
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ["inherit", "pipe", "pipe"], detached: true });
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding("utf8").on("data", (chunk: string) => {
        writeErr(chunk.replace(/\r\n?/g, "\n"));
      });
    }
    waitForGroup(child).then(({ code, signal }) => resolve({ code, signal }), reject);
  });
}
