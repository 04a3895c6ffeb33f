/**
 * A build step (a source's `setup`, pip) runs as the leader of its own
 * process group, and the group ends with it, as a Docker RUN step's container
 * ends when its command does. A setup that leaves `sleep 300 &` behind once
 * kept create-image waiting on its output pipes for as long as the sleep
 * held them, and a daemon it started outlived the build.
 *
 * What this reaches: every process the step starts that stays in its group
 * (background jobs, double forks, nohup, processes that ignore SIGTERM).
 * What it cannot: a process that leaves the group for a session of its own
 * (setsid), or one that changes its group; only a cgroup or a PID namespace
 * holds those (a sandbox's job, not this one). For those, pypakr stops
 * waiting on the output pipes instead of hanging, and leaves them running.
 */
import type { ChildProcess } from "node:child_process";
import { isErrno } from "./errors.js";

/** How long the rest of the group may take to finish on its own once the step itself has exited. */
export const GROUP_GRACE_MS = 2000;
/** How long the group has between SIGTERM and SIGKILL. */
export const GROUP_TERM_GRACE_MS = 2000;
/** How long the output may take to drain once the group is gone (only processes outside it can hold it longer). */
const OUTPUT_DRAIN_MS = 500;
const POLL_MS = 25;

/** Groups of build steps still running, ended if pypakr is interrupted or exits first. */
const running = new Set<number>();
let exitHookInstalled = false;

function signalGroup(group: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-group, signal);
    return true;
  } catch (error) {
    // EPERM: a member we may not signal (it changed user); the group is still there.
    return isErrno(error, "EPERM");
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether the group has no member left within `ms`. */
async function groupGone(group: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (signalGroup(group, 0)) {
    if (Date.now() >= end) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/** Ends the group: a grace period to finish, then SIGTERM, then SIGKILL. */
async function endGroup(group: number): Promise<void> {
  if (await groupGone(group, GROUP_GRACE_MS)) return;
  signalGroup(group, "SIGTERM");
  if (await groupGone(group, GROUP_TERM_GRACE_MS)) return;
  signalGroup(group, "SIGKILL");
  await groupGone(group, GROUP_TERM_GRACE_MS);
}

/**
 * Ends every build step's group at once (SIGKILL: pypakr is going away and
 * removes their work env next, which they must not keep writing into). For
 * the interrupt handler; also runs when the process exits.
 */
export function killRunningGroups(): void {
  for (const group of running) signalGroup(group, "SIGKILL");
  running.clear();
}

/**
 * Waits for `child`, spawned with `detached: true` (so it leads a new
 * process group, in a session of its own), then ends what is left of its
 * group and stops waiting on its output. Resolves to how the child itself
 * ended; rejects if it could not be started.
 */
export function waitForGroup(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    const group = child.pid;
    if (group === undefined) return; // not started: "error" follows
    running.add(group);
    if (!exitHookInstalled) {
      process.on("exit", killRunningGroups);
      exitHookInstalled = true;
    }
    let closed = false;
    const close = new Promise<void>((done) =>
      child.on("close", () => {
        closed = true;
        done();
      }),
    );
    child.on("exit", (code, signal) => {
      void (async () => {
        await endGroup(group);
        running.delete(group);
        if (!closed) await Promise.race([close, sleep(OUTPUT_DRAIN_MS)]);
        // Whoever still holds the pipes left the group; their output is not the step's to wait for.
        for (const stream of [child.stdout, child.stderr]) stream?.destroy();
        resolve({ code, signal });
      })();
    });
  });
}
