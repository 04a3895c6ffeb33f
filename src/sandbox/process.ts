/**
 * One running sandbox: spawn the command line, learn the sandbox's PID 1 from
 * bwrap's --info-fd, stop it the way the app contract promises (SIGTERM to the
 * app itself, SIGKILL to everything after the grace period), and tell how it
 * ended. SIGTERM to the whole sandbox would kill bwrap's reaper first and the
 * app would never drain (recon §1), hence the walk down to the app's process.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import { isErrno } from "../util/errors.js";
import { GROUP_FD, INFO_FD, PASSWD_FD } from "./bwrap-args.js";
import type { SandboxEndpoint, SandboxExit, SandboxedProcess } from "./types.js";

/** bwrap's info is one small JSON object; more than this is not bwrap talking. */
const MAX_INFO_BYTES = 4096;

export interface Launch {
  argv: string[];
  passwd: string;
  group: string;
  endpoint: SandboxEndpoint;
  /** The TCP port the app listens on, in the sandbox's network namespace. */
  port: number;
  /** How many processes lie between the sandbox's PID 1 and the app (root: the inner bwrap, then the app). */
  appDepth: number;
  /** Called once everything has ended: which limit was hit, after the cgroups are gone. */
  finish: () => Promise<SandboxExit["limitHit"]>;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if (!isErrno(error, "ESRCH")) throw error;
  }
}

/**
 * Whether a TCP socket listens on `port` in the network namespace of `pid`:
 * the kernel's socket table, read without connecting. Probing by connecting
 * would go through the socket bridge, which accepts before the app listens,
 * and costs a socat fork per try; this is a file read, cheap enough to poll
 * every few milliseconds, so a cold start is noticed as soon as it is ready.
 */
function listensOn(pid: number, port: number): boolean {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const table of ["tcp", "tcp6"]) {
    // Synchronous: a read of a few hundred bytes the kernel makes on the spot, far cheaper than the thread-pool round trip of an asynchronous read, and it is polled every few ms.
    const text = readProcFile(`/proc/${pid}/net/${table}`);
    // Columns: sl, local_address (ADDR:PORT in hex), rem_address, st (0A = LISTEN), ...
    for (const line of text.split("\n")) {
      const [, address, , state] = line.trim().split(/\s+/);
      if (state === "0A" && address?.endsWith(local)) return true;
    }
  }
  return false;
}

function readProcFile(file: string): string {
  try {
    return readFileSync(file, "latin1");
  } catch {
    return "";
  }
}

/** The first child of `pid` (the sandbox's chain has one child per level until the app), or null. */
async function firstChild(pid: number): Promise<number | null> {
  const text = await fs.readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  const first = text.trim().split(/\s+/)[0];
  return first === undefined || first === "" ? null : Number(first);
}

async function findApp(sandboxInit: number, depth: number): Promise<number | null> {
  let pid: number | null = sandboxInit;
  for (let level = 0; level < depth && pid !== null; level++) pid = await firstChild(pid);
  return pid;
}

/** Reads bwrap's {"child-pid": N} from the info pipe; null if bwrap closed it without one (it failed to start). */
function readChildPid(stream: Readable): Promise<number | null> {
  return new Promise((resolve) => {
    let text = "";
    const done = (pid: number | null) => {
      stream.removeAllListeners("data");
      stream.resume();
      resolve(pid);
    };
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      text += chunk;
      if (text.length > MAX_INFO_BYTES) return done(null);
      try {
        const info = JSON.parse(text) as { "child-pid"?: unknown };
        const pid = info["child-pid"];
        done(typeof pid === "number" && Number.isSafeInteger(pid) && pid > 1 ? pid : null);
      } catch {
        // Not all of it yet.
      }
    });
    stream.on("end", () => done(null));
    stream.on("error", () => done(null));
  });
}

export function launch(launchSpec: Launch): SandboxedProcess {
  const [program, ...args] = launchSpec.argv as [string, ...string[]];
  // Its own process group, so a terminal's Ctrl-C reaches the gateway (which drains) and not the instances;
  // --die-with-parent still ends the sandbox if the gateway dies.
  const child = spawn(program, args, { env: {}, detached: true, stdio: ["ignore", "pipe", "pipe", "pipe", "pipe", "pipe"] });
  const stdio = child.stdio as unknown as [null, Readable, Readable, Readable, Writable, Writable];
  for (const [fd, text] of [[PASSWD_FD, launchSpec.passwd], [GROUP_FD, launchSpec.group]] as const) {
    const pipe = stdio[fd];
    pipe.on("error", () => undefined);
    pipe.end(text);
  }
  const childPid = readChildPid(stdio[INFO_FD]);
  // Set at bwrap's exit, before its output closes: from then on the pids we know may belong to someone else.
  let ended = false;
  child.on("exit", () => (ended = true));
  const exited = new Promise<SandboxExit>((resolve) => {
    let settled = false;
    const settle = (code: number | null, signalName: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      ended = true;
      void launchSpec
        .finish()
        .catch(() => undefined)
        .then((limitHit) => resolve({ code, signal: signalName, ...(limitHit === undefined ? {} : { limitHit }) }));
    };
    child.on("error", () => settle(null, null));
    child.on("close", (code, signalName) => settle(code, signalName));
  });
  let stopping: Promise<SandboxExit> | undefined;
  const stop = (graceMs: number): Promise<SandboxExit> => {
    stopping ??= (async () => {
      if (ended) return exited;
      // bwrap names PID 1 as soon as it made it; if it ends first, there is nothing left to signal.
      const init = await Promise.race([childPid, exited.then(() => null)]);
      const app = init === null ? null : await findApp(init, launchSpec.appDepth);
      if (app !== null) signal(app, "SIGTERM");
      const graceOver = app === null ? Promise.resolve() : new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, graceMs)).unref());
      await Promise.race([exited, graceOver]);
      // PID 1 of the namespace: its death takes every process inside with it, fork bombs included. Without it
      // (bwrap failed early), the outer bwrap itself.
      const target = init ?? child.pid;
      if (!ended && target !== undefined && target > 1) signal(target, "SIGKILL");
      return exited;
    })();
    return stopping;
  };
  const listening = async (): Promise<boolean> => {
    const init = await Promise.race([childPid, exited.then(() => null)]);
    return init !== null && !ended && listensOn(init, launchSpec.port);
  };
  return { pid: child.pid ?? 0, endpoint: launchSpec.endpoint, stdout: stdio[1], stderr: stdio[2], exited, stop, listening };
}
