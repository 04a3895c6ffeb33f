/**
 * Where our own cgroup lives on the host, read from /proc/self/mountinfo and
 * /proc/self/cgroup (pure, so each layout has a unit test: this machine's v1
 * hybrid, a plain v2 host, a container whose cgroup mount starts below the
 * root). An instance's cgroups go below ours, never at the hierarchy's root.
 */
import * as path from "node:path";

export interface CgroupMount {
  point: string;
  root: string;
  fstype: string;
  superOptions: string[];
}

/** Where an instance's cgroups go: one directory per v1 controller, or one v2 directory (in both fields). */
export interface CgroupParents {
  version: 1 | 2;
  memory: string;
  pids: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const unescape = (value: string) => value.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

export function parseMountinfo(text: string): CgroupMount[] {
  const found: CgroupMount[] = [];
  for (const line of text.split("\n")) {
    const [before, after] = line.split(" - ");
    if (before === undefined || after === undefined) continue;
    const fields = before.split(" ");
    const [fstype, , superOptions] = after.split(" ");
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    found.push({ root: unescape(fields[3] ?? ""), point: unescape(fields[4] ?? ""), fstype, superOptions: (superOptions ?? "").split(",") });
  }
  return found;
}

/** Our cgroup per v1 controller ("memory" → "/process_api/x"), and the v2 one under "". */
export function parseOwnCgroups(text: string): Map<string, string> {
  const owned = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\d+:([^:]*):(\/.*)$/.exec(line);
    if (match === null) continue;
    for (const controller of (match[1] ?? "").split(",")) owned.set(controller, match[2] ?? "/");
  }
  return owned;
}

/** Host directory of cgroup `own` in the hierarchy mounted as `mount`; null when it lies outside what is mounted. */
function directoryIn(mount: CgroupMount, own: string): string | null {
  const relative = path.posix.relative(mount.root, own);
  if (relative === ".." || relative.startsWith("../")) return null;
  return path.posix.join(mount.point, relative);
}

/** Our own cgroup's directories in the v1 memory and pids hierarchies, or in the v2 one; null when there is none. */
export function cgroupParents(mountinfo: string, ownCgroups: string, version: 1 | 2): CgroupParents | null {
  const mounts = parseMountinfo(mountinfo);
  const own = parseOwnCgroups(ownCgroups);
  if (version === 2) {
    const mount = mounts.find((candidate) => candidate.fstype === "cgroup2");
    const ownPath = own.get("");
    const dir = mount === undefined || ownPath === undefined ? null : directoryIn(mount, ownPath);
    return dir === null ? null : { version: 2, memory: dir, pids: dir };
  }
  const parentFor = (controller: string) => {
    const mount = mounts.find((candidate) => candidate.fstype === "cgroup" && candidate.superOptions.includes(controller));
    const ownPath = own.get(controller);
    return mount === undefined || ownPath === undefined ? null : directoryIn(mount, ownPath);
  };
  const memory = parentFor("memory");
  const pids = parentFor("pids");
  return memory === null || pids === null ? null : { version: 1, memory, pids };
}
