/**
 * A container's launch file, `.pypakr/launch-v3.sh` (its name is in src/layout): what `pypakr run` needs
 * to start a program without Node (see src/cli/pypakr.sh). Sourced by that
 * script in the container's directory, it sets the same environment as
 * runInContainer (the venv's, then the image's) and, when no program was
 * named, the image's entry point. Every value is single-quoted, so nothing in
 * an image is ever read as shell code.
 *
 * Its first line refuses (return 1, so Node's run takes over and says why) a
 * container that is not where it was made (moved or copied: its files name
 * the old path; see relocate.ts) or whose relocation is unfinished.
 */
import * as path from "node:path";
import { RELOCATION_JOURNAL_PATH } from "../layout/index.js";
import { shellQuote } from "../util/printable.js";
import { ENVIRONMENT_NAME } from "../image/index.js";

// The quoting rule lives with the other rules for showing untrusted text; kept exported here for existing callers.
export { shellQuote };

/**
 * The launch file's text, or null when the shell cannot express the
 * environment (a name that is not a shell variable, a NUL): then Node's run,
 * which can, serves the container. The image schema refuses such an image
 * (format.ts), so null is a defence that no image read by pypakr reaches.
 *
 * It is sourced with "$@" = `--entrypoint ARGS...` (the image's entry point
 * gets ARGS, as `docker run IMAGE ARGS`) or `--program PROGRAM ARGS...` (run's
 * -r). `realDir` is the container's path with symlinks resolved, which
 * pypakr.sh's `cd -P` leaves in $PWD.
 *
 * The image's variables come last: from the first of them on, any shell
 * variable may hold the image's text (IFS, PATH, ...), so nothing after them
 * may expand one. The command line is settled before them, and pypakr.sh
 * reads nothing but "$@" after sourcing this file.
 */
export function launchScript(dir: string, environment: Record<string, string>, entrypoint: string[], realDir: string = dir): string | null {
  const entries = Object.entries(environment);
  if (entries.some(([name, value]) => !ENVIRONMENT_NAME.test(name) || value.includes("\0")) || entrypoint.some((word) => word.includes("\0"))) return null;
  const command = entrypoint.length > 0 ? entrypoint : ["./run"];
  return [
    "# Written by pypakr create-container; sourced by `pypakr run` (see pypakr.sh in pypakr's bundle).",
    `[ "$PWD" = ${shellQuote(realDir)} ] && [ ! -e ${RELOCATION_JOURNAL_PATH} ] || return 1`,
    `case $1 in --entrypoint) shift; set -- ${command.map(shellQuote).join(" ")} "$@" ;; *) shift ;; esac`,
    `VIRTUAL_ENV=${shellQuote(dir)}; export VIRTUAL_ENV`,
    `PATH=${shellQuote(path.join(dir, "bin"))}\${PATH:+:$PATH}; export PATH`,
    "unset PYTHONHOME __PYVENV_LAUNCHER__",
    ...entries.map(([name, value]) => `${name}=${shellQuote(value)}; export ${name}`),
    "",
  ].join("\n");
}
