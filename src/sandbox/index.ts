/**
 * The sandbox: runs one app instance isolated with bubblewrap (own mount, PID,
 * IPC, UTS and, unless allowed out, network namespaces; only its container,
 * its interpreter and a private /tmp visible; memory and process limits), as
 * an unprivileged uid when the gateway is root. See types.ts for the contract.
 */
import { chmod, chown, lstat, readlink } from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";
import { PypakrError } from "../util/errors.js";
import { identityFiles, PORT_INSIDE_NETNS, sandboxArgv, SOCKET_NAME, type RootEntry } from "./bwrap-args.js";
import { detectParts, findHelpers, unavailable } from "./detect.js";
import { prepareLimits } from "./limits.js";
import { launch } from "./process.js";
import { checkSpec } from "./spec.js";
import type { SandboxEndpoint, SandboxedProcess, SandboxSpec, SandboxSupport } from "./types.js";

export type { SandboxEndpoint, SandboxExit, SandboxedProcess, SandboxSpec, SandboxSupport } from "./types.js";
export { ROOTFS_UID, rootfsArgv, runInRootfs, type TmpBind } from "./rootfs.js";

/** The uid an app runs as when the gateway is root and the spec names none: nobody. */
const DEFAULT_APP_UID = 65534;
/** How long the start-up probe may take (bwrap alone takes ~10 ms; a loaded machine, far more). */
const PROBE_TIMEOUT_MS = 10_000;
const PROBE_OUTPUT_CHARS = 2000;
/** Top-level host entries the loader and scripts reach by path (/lib64/ld-linux-x86-64.so.2, #!/bin/sh). */
const ROOT_ENTRIES = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

let rootEntries: Promise<RootEntry[]> | undefined;

/** Re-create each merged-/usr symlink as it is on this host; bind a real directory (a non-merged host). */
function hostRootEntries(): Promise<RootEntry[]> {
  rootEntries ??= (async () => {
    const entries: RootEntry[] = [];
    for (const entry of ROOT_ENTRIES) {
      const stats = await lstat(entry).catch(() => null);
      if (stats?.isSymbolicLink()) entries.push({ path: entry, symlinkTo: await readlink(entry) });
      else if (stats?.isDirectory()) entries.push({ path: entry });
    }
    return entries;
  })();
  return rootEntries;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** The socket directory belongs to the app's uid (socat, running as it, makes the socket there), and to no one else. */
async function prepareRuntimeDir(dir: string, uid: number, gid: number): Promise<void> {
  const stats = await lstat(dir).catch(() => null);
  // A symlink here (an earlier instance's uid owned the directory's contents, not the directory) would send the
  // chown, and the gateway's connections, elsewhere.
  if (stats === null || !stats.isDirectory()) {
    throw new PypakrError(`the sandbox's runtime directory ${dir} is not a directory`, { code: "bad-config", hint: "Make a new, empty directory for each instance and pass its path." });
  }
  if (process.getuid?.() === 0) await chown(dir, uid, gid);
  await chmod(dir, 0o700);
}

export async function startSandboxed(support: SandboxSupport, spec: SandboxSpec): Promise<SandboxedProcess> {
  checkSpec(spec);
  const helpers = findHelpers();
  if (spec.network === "none" && helpers.socat === null) {
    throw unavailable("an app without outbound network is reached through socat, which is not installed", "Install it: apt-get install socat");
  }
  const uid = support.asRoot ? (spec.uid ?? DEFAULT_APP_UID) : (process.getuid?.() ?? 0);
  const gid = support.asRoot ? uid : (process.getgid?.() ?? 0);
  const port = spec.network === "none" ? PORT_INSIDE_NETNS : await freeLoopbackPort();
  if (spec.network === "none") await prepareRuntimeDir(spec.runtimeDir, uid, gid);
  // Helpers run inside by their host path: visible through /usr on Debian, else bound where they are.
  const inside = [support.asRoot ? support.bwrap : null, support.asRoot ? helpers.setpriv : null, spec.network === "none" ? helpers.socat : null, support.limits === "prlimit" ? helpers.prlimit : null];
  const extraBinds = inside.filter((file): file is string => file !== null && !file.startsWith("/usr/"));
  const bound: SandboxSpec = extraBinds.length === 0 ? spec : { ...spec, readOnly: [...spec.readOnly, ...extraBinds] };
  const limits = await prepareLimits(support.limits, helpers.prlimit, spec);
  try {
    const argv = sandboxArgv(bound, {
      bwrap: support.bwrap,
      asRoot: support.asRoot,
      uid,
      gid,
      port,
      setpriv: helpers.setpriv ?? "/usr/bin/setpriv",
      ...(helpers.socat === null ? {} : { socat: helpers.socat }),
      innerWrapper: limits.innerWrapper,
      outerWrapper: limits.outerWrapper,
      rootEntries: await hostRootEntries(),
    });
    const endpoint: SandboxEndpoint = spec.network === "none" ? { socketPath: path.join(spec.runtimeDir, SOCKET_NAME) } : { host: "127.0.0.1", port };
    return launch({ argv, ...identityFiles(uid, gid), endpoint, port, appDepth: support.asRoot ? 2 : 1, finish: limits.finish });
  } catch (error) {
    await limits.finish().catch(() => undefined);
    throw error;
  }
}

/** Runs `sh -c exit` in a real sandbox (as an app would run: root drops to nobody): proof that bwrap works here. */
async function probe(support: SandboxSupport): Promise<void> {
  const sandbox = await startSandboxed(support, { id: `probe-${process.pid}`, readOnly: [], argv: ["/bin/sh", "-c", "exit 0"], cwd: "/", env: {}, network: "host", runtimeDir: "/" });
  let output = "";
  for (const stream of [sandbox.stdout, sandbox.stderr]) {
    stream.setEncoding("utf8").on("data", (chunk: string) => {
      if (output.length < PROBE_OUTPUT_CHARS) output += chunk;
    });
  }
  const timer = setTimeout(() => void sandbox.stop(0), PROBE_TIMEOUT_MS);
  const exit = await sandbox.exited;
  clearTimeout(timer);
  if (exit.code !== 0) {
    const said = output.trim().split("\n").slice(-3).join(" / ") || `exit ${exit.code ?? exit.signal}`;
    throw unavailable(
      `bubblewrap cannot make a sandbox on this machine: ${said}`,
      support.asRoot
        ? "The kernel or the container pypakr runs in forbids namespaces (in Docker: --privileged or a seccomp profile that allows unshare/clone)."
        : "Allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; Ubuntu 24.04+: an AppArmor profile for bwrap), or run the gateway as root.",
    );
  }
}

/** What this machine can enforce; throws sandbox-unavailable (with the fix) when no sandbox can be made at all. */
export async function detectSandbox(): Promise<SandboxSupport> {
  const support = await detectParts();
  await probe(support);
  return support;
}

