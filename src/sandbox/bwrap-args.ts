/**
 * The sandbox as one command line, built from the spec alone (pure, so a unit
 * test can read every bind). Like Flatpak's use of bubblewrap, nothing of the
 * host is visible unless a bind below names it: /usr and the loader's cache,
 * the spec's read-only paths, a private /tmp, and the socket directory.
 *
 * As root, one bwrap cannot both mount privileged and hand the app an
 * unprivileged identity: `--unshare-user --uid U` maps U to host root
 * (recon §1, trap 1). So a privileged outer bwrap makes the mounts and the
 * namespaces, setpriv drops to uid U with no capabilities, and an inner
 * unprivileged bwrap only forbids further user namespaces. Without root, one
 * unprivileged bwrap does it all and the app keeps the user's own uid.
 */
import * as path from "node:path";
import type { SandboxSpec } from "./types.js";

/** Where the runtime directory appears inside, and the socket socat listens on there. */
export const RUNTIME_INSIDE = "/run/pypakr";
export const SOCKET_NAME = "app.sock";
/** The port the app listens on inside its own network namespace (nothing else is there). */
export const PORT_INSIDE_NETNS = 8080;
/** The fds the spawner passes: bwrap's --info-fd, then the generated /etc/passwd and /etc/group. */
export const INFO_FD = 3;
export const PASSWD_FD = 4;
export const GROUP_FD = 5;

/** A top-level host entry the loader needs (/lib, /lib64, /bin): a symlink to re-create, or a directory to bind. */
export interface RootEntry {
  path: string;
  symlinkTo?: string;
}

export interface SandboxCommand {
  bwrap: string;
  asRoot: boolean;
  /** The uid the app runs as: spec.uid (root) or the user's own. */
  uid: number;
  gid: number;
  port: number;
  /** Host paths of helpers used inside (all under /usr on Debian, so visible there). */
  setpriv: string;
  socat?: string;
  /** Put before the app inside (prlimit ... --), when limits are rlimits. */
  innerWrapper: string[];
  /** Put before bwrap on the host (joining cgroups), exec'ing into it. */
  outerWrapper: string[];
  rootEntries: RootEntry[];
}

/** /etc/passwd and /etc/group for the sandbox: just enough for getpwuid() (Python's getpass, pip) to name the app's user. */
export function identityFiles(uid: number, gid: number): { passwd: string; group: string } {
  const lines = uid === 0 ? [`root:x:0:0:root:/tmp:/usr/sbin/nologin`] : [`root:x:0:0:root:/root:/usr/sbin/nologin`, `app:x:${uid}:${gid}:app:/tmp:/usr/sbin/nologin`];
  const groups = gid === 0 ? [`root:x:0:`] : [`root:x:0:`, `app:x:${gid}:`];
  return { passwd: `${lines.join("\n")}\n`, group: `${groups.join("\n")}\n` };
}

/** Every directory above `dir`, outermost first, without "/". */
function parentsOf(dir: string): string[] {
  const parents: string[] = [];
  for (let parent = path.posix.dirname(dir); parent !== "/"; parent = path.posix.dirname(parent)) parents.unshift(parent);
  return parents;
}

/** The app's environment: HOME (unless the spec sets it), the spec's, then PORT (ours wins: the bridge listens there). */
export function appEnvironment(spec: SandboxSpec, port: number): Record<string, string> {
  return { HOME: "/tmp", ...spec.env, PORT: String(port) };
}

function mounts(spec: SandboxSpec, command: SandboxCommand): string[] {
  const args = ["--ro-bind", "/usr", "/usr"];
  for (const entry of command.rootEntries) {
    if (entry.symlinkTo !== undefined) args.push("--symlink", entry.symlinkTo, entry.path);
    else args.push("--ro-bind", entry.path, entry.path);
  }
  // bwrap makes missing parents 0700, which the app's uid could not traverse (recon §1, trap 3): declare each 0755.
  const declared = new Set<string>(["/usr", "/tmp", ...command.rootEntries.map((entry) => entry.path)]);
  const declare = (dir: string) => {
    for (const parent of [...parentsOf(dir), dir]) {
      if (declared.has(parent)) continue;
      declared.add(parent);
      args.push("--perms", "0755", "--dir", parent);
    }
  };
  declare("/etc");
  args.push("--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache");
  args.push("--perms", "0644", "--ro-bind-data", String(PASSWD_FD), "/etc/passwd");
  args.push("--perms", "0644", "--ro-bind-data", String(GROUP_FD), "/etc/group");
  if (spec.network === "host") {
    // Name resolution and TLS for outbound calls; nothing else of /etc.
    for (const file of ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs"]) args.push("--ro-bind-try", file, file);
  }
  args.push("--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp");
  // Below the tmpfs, so a read-only path under /tmp is bound on top of the private /tmp, not hidden by it.
  for (const dir of spec.readOnly) {
    declare(path.posix.dirname(dir));
    declared.add(dir);
    args.push("--ro-bind", dir, dir);
  }
  if (spec.network === "none") {
    declare("/run");
    args.push("--bind", spec.runtimeDir, RUNTIME_INSIDE);
  }
  return args;
}

/** What runs inside once the mounts are made: the socket bridge (network none), the rlimits, the app. */
function appCommand(spec: SandboxSpec, command: SandboxCommand): string[] {
  const app = [...command.innerWrapper, ...spec.argv];
  if (spec.network === "host") return app;
  if (command.socat === undefined) throw new Error("socat is needed for network none");
  // The app is exec'd, so it stays the only child of the process above it and the stop walk finds it; socat is its child.
  // socat's own complaints (chiefly "connection refused" while the app is still starting) stay out of the app's log; a broken bridge shows as a 502.
  const bridge = `${command.socat} UNIX-LISTEN:${RUNTIME_INSIDE}/${SOCKET_NAME},fork,mode=600,backlog=1024 TCP:127.0.0.1:${command.port} 2>/dev/null & exec "$@"`;
  return ["/bin/sh", "-c", bridge, "sh", ...app];
}

/** The whole host command line (program first) for a checked spec. */
export function sandboxArgv(spec: SandboxSpec, command: SandboxCommand): string[] {
  const namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--hostname", "sandbox", "--unshare-cgroup-try"];
  if (spec.network === "none") namespaces.push("--unshare-net");
  const environment = ["--clearenv"];
  for (const [name, value] of Object.entries(appEnvironment(spec, command.port))) environment.push("--setenv", name, value);
  const lifetime = ["--die-with-parent", "--new-session", "--info-fd", String(INFO_FD)];
  const outer = [command.bwrap, ...namespaces, ...lifetime, ...mounts(spec, command), ...environment, "--chdir", spec.cwd];
  const app = appCommand(spec, command);
  if (!command.asRoot) {
    return [...command.outerWrapper, ...outer, "--unshare-user", "--disable-userns", "--", ...app];
  }
  const uid = String(command.uid);
  const gid = String(command.gid);
  const drop = [command.setpriv, "--reuid", uid, "--regid", gid, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"];
  // The inner bwrap only adds a user namespace that cannot make more (--disable-userns): without it the app could
  // unshare -U and be root of a namespace of its own.
  const inner = [command.bwrap, "--unshare-user", "--uid", uid, "--gid", gid, "--disable-userns", "--dev-bind", "/", "/", "--chdir", spec.cwd, "--"];
  return [...command.outerWrapper, ...outer, "--", ...drop, ...inner, ...app];
}
