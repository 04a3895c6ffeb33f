/**
 * Memory and process limits for one instance. cgroups are exact and say
 * afterwards which limit was hit; they are made under pypakr's own cgroup
 * (from /proc/self/cgroup), never at the root, so whatever accounts for
 * pypakr itself still accounts for its apps. Where no cgroup can be written
 * (not root, no delegation), rlimits are the fallback, with their flaws named
 * in the warnings: RLIMIT_AS bounds address space, not memory in use, and
 * RLIMIT_NPROC counts every process of the uid.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { isErrno } from "../util/errors.js";
import { cgroupParents, type CgroupParents } from "./cgroup-paths.js";
import type { SandboxSpec, SandboxSupport } from "./types.js";

type Mechanism = SandboxSupport["limits"];

async function readText(file: string): Promise<string | null> {
  return fs.readFile(file, "utf8").catch(() => null);
}

async function findParents(version: 1 | 2): Promise<CgroupParents | null> {
  const parents = cgroupParents((await readText("/proc/self/mountinfo")) ?? "", (await readText("/proc/self/cgroup")) ?? "", version);
  if (parents === null || version === 1) return parents;
  const controllers = ((await readText(path.join(parents.memory, "cgroup.controllers"))) ?? "").split(/\s+/);
  if (!controllers.includes("memory") || !controllers.includes("pids")) return null;
  // Children get a controller only once our cgroup hands it down; this fails (EBUSY) while our cgroup holds
  // processes and is not the root, and then the probe finds the child without memory.max.
  await fs.writeFile(path.join(parents.memory, "cgroup.subtree_control"), "+memory +pids").catch(() => undefined);
  return parents;
}

/** The files one instance's limits live in. */
interface InstanceCgroups {
  dirs: string[];
  /** cgroup.procs files the launcher writes its pid into before exec'ing bwrap. */
  procs: string[];
}

/** An instance's cgroup name: ids are unique within one gateway only, so the gateway's pid keeps two gateways' apart. */
function cgroupName(id: string): string {
  return `pypakr-${process.pid}-${id}`;
}

function instanceCgroups(parents: CgroupParents, id: string): InstanceCgroups {
  const name = cgroupName(id);
  const dirs = parents.version === 2 ? [path.join(parents.memory, name)] : [path.join(parents.memory, name), path.join(parents.pids, name)];
  return { dirs, procs: dirs.map((dir) => path.join(dir, "cgroup.procs")) };
}

async function writeLimits(parents: CgroupParents, cgroups: InstanceCgroups, memoryBytes: number | undefined, maxProcesses: number | undefined): Promise<void> {
  const [memoryDir, pidsDir = memoryDir] = cgroups.dirs as [string, string?];
  if (parents.version === 1) {
    if (memoryBytes !== undefined) {
      await fs.writeFile(path.join(memoryDir, "memory.limit_in_bytes"), String(memoryBytes));
      // Without this, a memory-limited app pushes the rest to swap and lives on. (Absent when swap accounting is off.)
      await fs.writeFile(path.join(memoryDir, "memory.memsw.limit_in_bytes"), String(memoryBytes)).catch((error: unknown) => {
        if (!isErrno(error, "ENOENT")) throw error;
      });
    }
  } else if (memoryBytes !== undefined) {
    await fs.writeFile(path.join(memoryDir, "memory.max"), String(memoryBytes));
    await fs.writeFile(path.join(memoryDir, "memory.swap.max"), "0").catch(() => undefined);
  }
  if (maxProcesses !== undefined) await fs.writeFile(path.join(pidsDir, "pids.max"), String(maxProcesses));
}

/** mkdir, after removing an empty one of the same name a gateway that died left behind (rmdir fails while it holds processes). */
async function makeCgroup(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir);
  } catch (error) {
    if (!isErrno(error, "EEXIST")) throw error;
    await fs.rmdir(dir);
    await fs.mkdir(dir);
  }
}

async function removeCgroups(cgroups: InstanceCgroups): Promise<void> {
  // The last processes of a dead PID namespace may take a moment to leave; rmdir fails EBUSY until they have.
  for (const dir of cgroups.dirs) {
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.rmdir(dir);
        break;
      } catch (error) {
        if (isErrno(error, "ENOENT")) break;
        if (attempt >= 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
}

/** A number after `key ` in a flat-keyed file (memory.events, pids.events, memory.oom_control). */
function counter(text: string | null, key: string): number {
  const match = text === null ? null : new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return match === null ? 0 : Number(match[1]);
}

async function limitHit(parents: CgroupParents, cgroups: InstanceCgroups): Promise<"memory" | "processes" | undefined> {
  const [memoryDir, pidsDir = memoryDir] = cgroups.dirs as [string, string?];
  const memoryEvents = await readText(path.join(memoryDir, parents.version === 1 ? "memory.oom_control" : "memory.events"));
  if (counter(memoryEvents, "oom_kill") > 0) return "memory";
  if (counter(await readText(path.join(pidsDir, "pids.events")), "max") > 0) return "processes";
  return undefined;
}

/** Whether an instance's cgroups can be made, limited and removed here (tried once, at start-up). */
async function cgroupsWork(parents: CgroupParents): Promise<boolean> {
  const probe = instanceCgroups(parents, `probe-${process.pid}`);
  try {
    for (const dir of probe.dirs) await fs.mkdir(dir);
    await writeLimits(parents, probe, 64 * 1024 * 1024, 64);
    return true;
  } catch {
    return false;
  } finally {
    await removeCgroups(probe).catch(() => undefined);
  }
}

/** Whether a process of that pid runs (a gateway; its pid may have been reused, which only keeps its cgroups longer). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return !isErrno(error, "ESRCH");
  }
}

/**
 * Removes the empty cgroups of gateways that died without cleaning up (their
 * names carry the gateway's pid), so they do not pile up. rmdir removes only
 * an empty cgroup: one that still holds processes stays.
 */
async function removeAbandoned(parents: CgroupParents): Promise<void> {
  for (const parent of new Set([parents.memory, parents.pids])) {
    for (const name of await fs.readdir(parent).catch(() => [])) {
      const pid = /^pypakr-(\d+)-/.exec(name)?.[1];
      if (pid !== undefined && Number(pid) !== process.pid && !isRunning(Number(pid))) await fs.rmdir(path.join(parent, name)).catch(() => undefined);
    }
  }
}

const RLIMIT_WARNINGS = (asRoot: boolean) => [
  "memory limits are approximate: without a writable cgroup they are RLIMIT_AS, which bounds address space, not memory in use (an app may fail early on a large mapping, or use more than asked through shared memory)",
  asRoot
    ? "process limits are RLIMIT_NPROC, counted per uid: apps that share a uid share the limit"
    : "process limits are RLIMIT_NPROC, counted per uid: every app and the gateway itself run as your user and share the limit; run the gateway as root for a uid per app, or give it a writable cgroup",
  "a limit hit is not reported as such without cgroups (the app just fails to allocate or fork)",
];

export interface LimitSupport {
  limits: Mechanism;
  warnings: string[];
}

/** Our own cgroup does not move while we run: found once per hierarchy. */
const parentsFound = new Map<1 | 2, Promise<CgroupParents | null>>();

function ownParents(version: 1 | 2): Promise<CgroupParents | null> {
  let found = parentsFound.get(version);
  if (found === undefined) {
    found = findParents(version).catch(() => null);
    parentsFound.set(version, found);
  }
  return found;
}

/** Finds the best working mechanism: cgroup v2, cgroup v1 (both under our own cgroup), prlimit, or none. */
export async function detectLimits(asRoot: boolean, prlimit: string | null): Promise<LimitSupport> {
  for (const version of [2, 1] as const) {
    const parents = await ownParents(version);
    if (parents !== null && (await cgroupsWork(parents))) {
      await removeAbandoned(parents);
      const warnings: string[] = [];
      if (parents.version === 1 && (await readText(path.join(parents.memory, "memory.memsw.limit_in_bytes"))) === null) {
        warnings.push("memory limits do not cover swap: the kernel has no swap accounting (swapaccount=1), so an app over its limit swaps instead of being stopped");
      }
      return { limits: parents.version === 1 ? "cgroup-v1" : "cgroup-v2", warnings };
    }
  }
  if (prlimit !== null) return { limits: "prlimit", warnings: RLIMIT_WARNINGS(asRoot) };
  return { limits: "none", warnings: ["memory and process limits cannot be enforced: no writable cgroup and no prlimit (util-linux)"] };
}

/** One instance's limits, set up before it starts. */
export interface InstanceLimits {
  /** Before bwrap on the host: joins the cgroups, then exec's the rest. */
  outerWrapper: string[];
  /** Before the app inside: prlimit. */
  innerWrapper: string[];
  /** After the instance ended: which limit it hit (when the mechanism can tell), and its cgroups removed. */
  finish: () => Promise<"memory" | "processes" | undefined>;
}

const NO_LIMITS: InstanceLimits = { outerWrapper: [], innerWrapper: [], finish: () => Promise.resolve(undefined) };

export async function prepareLimits(mechanism: Mechanism, prlimit: string | null, spec: SandboxSpec): Promise<InstanceLimits> {
  const { memoryBytes, maxProcesses } = spec;
  if (memoryBytes === undefined && maxProcesses === undefined) return NO_LIMITS;
  const parents = mechanism === "cgroup-v1" || mechanism === "cgroup-v2" ? await ownParents(mechanism === "cgroup-v1" ? 1 : 2) : null;
  if (parents === null && (mechanism === "cgroup-v1" || mechanism === "cgroup-v2")) {
    // Never start an app without the limits it was promised.
    throw new Error(`the ${mechanism} hierarchy found at start-up is gone`);
  }
  if (parents !== null) {
    const cgroups = instanceCgroups(parents, spec.id);
    try {
      for (const dir of cgroups.dirs) await makeCgroup(dir);
      await writeLimits(parents, cgroups, memoryBytes, maxProcesses);
    } catch (error) {
      await removeCgroups(cgroups).catch(() => undefined);
      throw error;
    }
    // The shell joins before bwrap exists, so every process bwrap makes is born inside (moving bwrap's pid later
    // would miss the child it already cloned). A failed join stops here rather than running without limits.
    const joins = cgroups.procs.map((_, index) => `echo $$ >"$${index + 1}" || exit 125`).join("; ");
    const outerWrapper = ["/bin/sh", "-c", `${joins}; shift ${cgroups.procs.length}; exec "$@"`, "sh", ...cgroups.procs];
    return {
      outerWrapper,
      innerWrapper: [],
      finish: async () => {
        const hit = await limitHit(parents, cgroups).catch(() => undefined);
        await removeCgroups(cgroups);
        return hit;
      },
    };
  }
  if (mechanism === "prlimit" && prlimit !== null) {
    const innerWrapper = [prlimit];
    if (memoryBytes !== undefined) innerWrapper.push(`--as=${memoryBytes}`);
    if (maxProcesses !== undefined) innerWrapper.push(`--nproc=${maxProcesses}`);
    innerWrapper.push("--");
    return { outerWrapper: [], innerWrapper, finish: () => Promise.resolve(undefined) };
  }
  return NO_LIMITS;
}
