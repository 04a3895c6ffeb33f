/**
 * A spec comes from the gateway's config, which comes from an operator who may
 * have pasted it from anywhere: every value that reaches bwrap's command line
 * or the host's filesystem is checked here first, so a typo or a crafted value
 * cannot widen the sandbox (a relative or `..` path, an id that walks out of
 * the cgroup tree, an env name that smuggles a second assignment).
 */
import * as path from "node:path";
import { PypakrError } from "../util/errors.js";
import type { SandboxSpec } from "./types.js";

const ID = /^[a-z0-9-]{1,40}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Where the sandbox mounts its own things: a read-only bind there would hide them or be hidden. */
const RESERVED = ["/proc", "/dev", "/run/pypakr", "/var/cache/pypakr"];
/** The private /tmp: a bind below it is fine (it is made after the tmpfs; tests and TMPDIR homes live there), over it is not. */
const PRIVATE_TMP = "/tmp";
/** A uid the app may run as when the gateway is root: anything but root, and not the kernel's "no uid" (2^32-1). */
const MAX_UID = 0xfffffffe;

function refuse(what: string, hint: string): never {
  throw new PypakrError(`sandbox: ${what}`, { code: "bad-config", hint });
}

function isUnder(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent === "/" ? "/" : `${parent}/`);
}

function checkAbsolute(value: string, what: string): void {
  if (typeof value !== "string" || value.includes("\0") || !path.isAbsolute(value) || path.posix.normalize(value) !== value || (value.length > 1 && value.endsWith("/"))) {
    refuse(`${what} ${JSON.stringify(value)} is not an absolute, normalized path`, "Give a path that starts with / and has no `.`, `..`, `//` or trailing `/`.");
  }
}

/** Throws a PypakrError (bad-config) naming the first value the sandbox refuses. */
export function checkSpec(spec: SandboxSpec): void {
  if (typeof spec.id !== "string" || !ID.test(spec.id)) refuse(`instance id ${JSON.stringify(spec.id)} is not 1-40 of [a-z0-9-]`, "Name instances with lowercase letters, digits and '-'.");
  for (const dir of spec.readOnly) {
    checkAbsolute(dir, "read-only path");
    if (dir === "/") refuse("the whole host filesystem cannot be bound into a sandbox", "Bind the container and the interpreter's prefix only.");
    const clash = RESERVED.find((reserved) => isUnder(dir, reserved) || isUnder(reserved, dir)) ?? (isUnder(PRIVATE_TMP, dir) ? PRIVATE_TMP : undefined);
    if (clash !== undefined) refuse(`read-only path ${dir} overlaps ${clash}, which the sandbox provides itself`, `Keep read-only paths apart from ${[...RESERVED, PRIVATE_TMP].join(", ")} (paths below /tmp are fine).`);
  }
  checkAbsolute(spec.cwd, "working directory");
  checkAbsolute(spec.runtimeDir, "runtime directory");
  if (spec.cacheDir !== undefined) checkAbsolute(spec.cacheDir, "cache directory");
  if (spec.argv.length === 0) refuse("no command to run", "Give the app's entry point.");
  for (const arg of spec.argv) if (typeof arg !== "string" || arg.includes("\0")) refuse("a command argument holds a NUL byte", "Remove the NUL from the command.");
  for (const [name, value] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(name)) refuse(`environment variable name ${JSON.stringify(name)} is not usable`, "Use letters, digits and _, not starting with a digit.");
    if (typeof value !== "string" || value.includes("\0")) refuse(`environment variable ${name} holds a NUL byte`, "Remove the NUL from its value.");
  }
  if (spec.network !== "none" && spec.network !== "host") refuse(`network ${JSON.stringify(spec.network)} is neither "none" nor "host"`, 'Use network "none" (no outbound access) or "host".');
  if (spec.uid !== undefined && (!Number.isInteger(spec.uid) || spec.uid < 1 || spec.uid > MAX_UID)) refuse(`uid ${spec.uid} is not an unprivileged uid`, `Give a uid from 1 to ${MAX_UID} (not 0: the app must not be root).`);
  for (const [name, value] of [["memory limit", spec.memoryBytes], ["process limit", spec.maxProcesses]] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) refuse(`${name} ${value} is not a positive whole number`, "Give a positive whole number, or no limit.");
  }
}
