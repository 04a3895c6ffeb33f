import { spawn } from "node:child_process";
import { waitForGroup } from "./process-group.js";
import { writeErr } from "./log.js";

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the command printed more than `maxOutputChars` and was killed for it (its output is cut there). */
  overflowed?: true;
}

/**
 * Runs a short command and collects its output (for introspection and
 * helpers, not for user-facing work). `input` goes to its stdin (else it has
 * none); after `timeoutMs` it is killed, and its result says so. A command
 * that prints more than `maxOutputChars` (stdout and stderr together) is
 * killed too, so a runaway or hostile one cannot fill memory.
 */
export function capture(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number; maxOutputChars?: number } = {}): Promise<CommandResult> {
  const { input, timeoutMs, maxOutputChars = Infinity, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let overflowed = false;
    const take = (chunk: string, into: "stdout" | "stderr") => {
      if (overflowed) return;
      if (stdout.length + stderr.length + chunk.length > maxOutputChars) {
        overflowed = true;
        child.kill("SIGKILL");
        // A child it started may still hold the pipes: closing our ends ends the wait for them (and the child's writes).
        child.stdout?.destroy();
        child.stderr?.destroy();
        return;
      }
      if (into === "stdout") stdout += chunk;
      else stderr += chunk;
    };
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => take(chunk, "stdout"));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => take(chunk, "stderr"));
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
      resolve({ code, signal, stdout, stderr, ...(overflowed ? { overflowed: true as const } : {}) });
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
