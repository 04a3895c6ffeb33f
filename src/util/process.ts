import { spawn } from "node:child_process";
import { waitForGroup } from "./process-group.js";
import { writeErr } from "./log.js";

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a short command and collects its output (for introspection, not for user-facing work). */
export function capture(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Longest line kept for an error report; longer ones are cut (a build can print megabytes on one line). */
const MAX_LINE = 400;

function clip(line: string): string {
  return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}… (${line.length - MAX_LINE} more characters)` : line;
}

/** The last `limit` lines of everything written to it, for error reports. */
export class TailBuffer {
  private lines: string[] = [];
  private partial = "";

  constructor(private readonly limit: number) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split("\n");
    this.partial = clip(parts.pop() ?? "");
    this.lines.push(...parts.map(clip));
    if (this.lines.length > this.limit) this.lines.splice(0, this.lines.length - this.limit);
  }

  text(): string {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    return all.slice(-this.limit).join("\n");
  }
}

/**
 * Runs a user-facing command: its stdout and stderr are shown live on our
 * stderr (our stdout stays free for results), and the last lines are kept for
 * the error message if it fails. What it prints passes the printable rule like
 * all our output (a source's setup is a stranger's code); carriage returns,
 * which progress meters use to redraw a line, become line breaks.
 */
export function runShowingOutput(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string; tailLines?: number },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; tail: string }> {
  return new Promise((resolve, reject) => {
    const tail = new TailBuffer(options.tailLines ?? 15);
    // Its own process group, which ends with it (see process-group.ts).
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ["inherit", "pipe", "pipe"], detached: true });
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding("utf8").on("data", (chunk: string) => {
        tail.push(chunk);
        writeErr(chunk.replace(/\r\n?/g, "\n"));
      });
    }
    waitForGroup(child).then(({ code, signal }) => resolve({ code, signal, tail: tail.text() }), reject);
  });
}
