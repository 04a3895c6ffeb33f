/**
 * A container's launch file, `.pypakr/launch-v2.sh`: what `pypakr run` needs
 * to start a program without Node (see src/cli/pypakr.sh). Sourced by that
 * script in the container's directory, it sets the same environment as
 * runInContainer (the venv's, then the image's) and, when no program was
 * named, the image's entry point. Every value is single-quoted, so nothing in
 * an image is ever read as shell code.
 */
import * as path from "node:path";
import { METADATA_DIR } from "../base/manifest.js";
import { shellQuote } from "../util/printable.js";
import { ENVIRONMENT_NAME } from "../image/format.js";

export const LAUNCH_FILE = "launch-v2.sh";

// The quoting rule lives with the other rules for showing untrusted text; kept exported here for existing callers.
export { shellQuote };

export function launchFile(dir: string): string {
  return path.join(dir, METADATA_DIR, LAUNCH_FILE);
}

/**
 * The launch file's text, or null when the shell cannot express the
 * environment (a name that is not a shell variable, a NUL): then Node's run,
 * which can, serves the container. The image schema refuses such an image
 * (format.ts), so null is a defence that no image read by pypakr reaches.
 *
 * The image's variables come last: from the first of them on, any shell
 * variable may hold the image's text (IFS, PATH, ...), so nothing after them
 * may expand one. The command line is settled before them, and pypakr.sh
 * reads nothing but "$@" after sourcing this file.
 */
export function launchScript(dir: string, environment: Record<string, string>, entrypoint: string[]): string | null {
  const entries = Object.entries(environment);
  if (entries.some(([name, value]) => !ENVIRONMENT_NAME.test(name) || value.includes("\0")) || entrypoint.some((word) => word.includes("\0"))) return null;
  const command = entrypoint.length > 0 ? entrypoint : ["./run"];
  return [
    "# Written by pypakr create-container; sourced by `pypakr run` (see pypakr.sh in pypakr's bundle).",
    `[ "$#" -gt 0 ] || set -- ${command.map(shellQuote).join(" ")}`,
    `VIRTUAL_ENV=${shellQuote(dir)}; export VIRTUAL_ENV`,
    `PATH=${shellQuote(path.join(dir, "bin"))}\${PATH:+:$PATH}; export PATH`,
    "unset PYTHONHOME __PYVENV_LAUNCHER__",
    ...entries.map(([name, value]) => `${name}=${shellQuote(value)}; export ${name}`),
    "",
  ].join("\n");
}
