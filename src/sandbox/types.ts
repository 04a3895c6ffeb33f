/**
 * What a sandbox is asked to run and what it hands back: the contract between
 * the gateway (serve/) and the isolation that runs other people's code.
 */
import type { Readable } from "node:stream";

/** What this machine lets pypakr enforce, found once at the gateway's start (detectSandbox). */
export interface SandboxSupport {
  /** Absolute path of bwrap, and its version ("0.8.0"). */
  bwrap: string;
  bwrapVersion: string;
  /** Running as root: bwrap does the mounts privileged, then the app is dropped to an unprivileged uid. */
  asRoot: boolean;
  /** How memory and process limits are enforced: cgroup v1 or v2 (writable under our own cgroup), else prlimit, else not at all. */
  limits: "cgroup-v1" | "cgroup-v2" | "prlimit" | "none";
  /** One line per limit that cannot be enforced as asked (e.g. "memory limits are approximate: RLIMIT_AS ..."). */
  warnings: string[];
}

export interface SandboxSpec {
  /** Unique, [a-z0-9-] only: names the instance's cgroup and its host runtime directory. */
  id: string;
  /** Host paths bound read-only at the same path (the container, the interpreter's prefix). Parents are made 0755. */
  readOnly: string[];
  /** Program and arguments, run with cwd `cwd` (inside the sandbox). */
  argv: string[];
  cwd: string;
  /** The whole environment of the app (nothing of the gateway's leaks in); PORT is added by the sandbox. */
  env: Record<string, string>;
  /** Outbound network: "none" unshares the network (the app is reached through a Unix socket); "host" shares it. */
  network: "none" | "host";
  /** Host directory (empty, made by the caller, removed by the caller) for the Unix socket when network is "none". */
  runtimeDir: string;
  /** Host directory bound read-write at /var/cache/pypakr (the app's bytecode cache, PYTHONPYCACHEPREFIX, shared by its instances). */
  cacheDir?: string;
  /** When the gateway is root: the unprivileged uid/gid the app runs as (one per app, so RLIMIT_NPROC is per app). */
  uid?: number;
  /** Limits; undefined = none asked. */
  memoryBytes?: number;
  maxProcesses?: number;
}

/** Where the gateway connects to reach the app's $PORT. */
export type SandboxEndpoint = { socketPath: string } | { host: "127.0.0.1"; port: number };

export interface SandboxExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why, when the sandbox can tell: the memory limit (OOM kill) or the process limit was hit. */
  limitHit?: "memory" | "processes";
}

export interface SandboxedProcess {
  /** Host pid of the outer bwrap. */
  pid: number;
  endpoint: SandboxEndpoint;
  /** The app's output (stdout and stderr of everything inside). */
  stdout: Readable;
  stderr: Readable;
  /** Settles once everything inside has ended and the cgroups are removed; never rejects. */
  exited: Promise<SandboxExit>;
  /** Whether the app listens on its port now (a look at the sandbox's socket table, no connection made). */
  listening(): Promise<boolean>;
  /** SIGTERM to the app's own process, SIGKILL to everything inside after graceMs; resolves with `exited`. */
  stop(graceMs: number): Promise<SandboxExit>;
}
