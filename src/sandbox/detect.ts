/**
 * What this machine lets the sandbox do, found once when the gateway starts:
 * where bwrap is, whether it runs here (a kernel or container may forbid
 * unprivileged user namespaces), and how limits can be enforced.
 */
import { accessSync, constants } from "node:fs";
import * as path from "node:path";
import { capture } from "../util/process.js";
import { PypakrError } from "../util/errors.js";
import { detectLimits } from "./limits.js";
import type { SandboxSupport } from "./types.js";

/** The first executable `name` on PATH (then the usual system directories, which a trimmed PATH may lack), or null. */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(":").filter((dir) => path.isAbsolute(dir)), "/usr/bin", "/usr/sbin", "/bin", "/sbin"];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return null;
}

export function unavailable(message: string, hint: string): PypakrError {
  return new PypakrError(message, { code: "sandbox-unavailable", hint });
}

/** The helpers the sandbox runs besides bwrap, looked up once. */
export interface Helpers {
  setpriv: string | null;
  prlimit: string | null;
  socat: string | null;
}

let helpers: Helpers | undefined;

export function findHelpers(): Helpers {
  helpers ??= { setpriv: findExecutable("setpriv"), prlimit: findExecutable("prlimit"), socat: findExecutable("socat") };
  return helpers;
}

/** bwrap's path and version, or the error that says how to install it. */
export async function findBwrap(): Promise<{ bwrap: string; bwrapVersion: string }> {
  const bwrap = findExecutable("bwrap");
  if (bwrap === null) throw unavailable("the sandbox needs bubblewrap (bwrap), which is not installed", "Install it: apt-get install bubblewrap");
  const version = await capture(bwrap, ["--version"], { timeoutMs: 5000, maxOutputChars: 1000 }).catch(() => null);
  const match = version === null ? null : /(\d+\.\d+(?:\.\d+)?)/.exec(version.stdout);
  if (match === null) throw unavailable(`${bwrap} does not run or does not answer --version like bubblewrap`, "Reinstall it: apt-get install --reinstall bubblewrap");
  return { bwrap, bwrapVersion: match[1] ?? "" };
}

/** Everything but the probe run (which needs the launcher, in index.ts). */
export async function detectParts(): Promise<SandboxSupport> {
  const { bwrap, bwrapVersion } = await findBwrap();
  const asRoot = process.getuid?.() === 0;
  const found = findHelpers();
  if (asRoot && found.setpriv === null) throw unavailable("running as root, the sandbox needs setpriv to drop each app to its own uid, and it is not installed", "Install it: apt-get install util-linux");
  const { limits, warnings } = await detectLimits(asRoot, found.prlimit);
  if (found.socat === null) warnings.push("apps without outbound network cannot be started: they are reached through socat, which is not installed (apt-get install socat)");
  return { bwrap, bwrapVersion, asRoot, limits, warnings };
}
