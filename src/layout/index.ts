/**
 * The names pypakr gives its own files inside a base or a container, in one
 * leaf module: the base writes them, the image reader and the store refuse
 * layers that use them, the container and `run` read them. Kept here, below
 * every folder that needs them, so none of those has to import another's
 * files for a name (image/ once took METADATA_DIR from base/).
 *
 * src/cli/pypakr.sh spells the launch file's path too (a shell script cannot
 * import): change both together.
 */
import * as path from "node:path";

/** pypakr's own metadata inside a base or container; never part of a manifest or a layer. */
export const METADATA_DIR = ".pypakr";

/** Names no entry of a base or a layer may use, at any depth (extraction and planning refuse them). */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([METADATA_DIR]);

/** A base's record of itself (see base/base.ts), outside its manifest. */
export const BASE_RECORD = "base.json";

export function baseRecordFile(dir: string): string {
  return path.join(dir, METADATA_DIR, BASE_RECORD);
}

/** A container's record of itself (see container/record.ts); the store reads it too, to find what containers use. */
export const CONTAINER_RECORD = "container.json";

export function containerRecordFile(dir: string): string {
  return path.join(dir, METADATA_DIR, CONTAINER_RECORD);
}

/**
 * A container's launch file (see container/launch.ts). v3: checks the
 * container's path, and takes the arguments after `--` for the entry point.
 * Containers with only an older launch file run through Node.
 */
export const LAUNCH_FILE = "launch-v3.sh";

export function launchFile(dir: string): string {
  return path.join(dir, METADATA_DIR, LAUNCH_FILE);
}

/** Where relocate keeps a committed, unfinished relocation (container/relocate.ts), relative to the container. */
export const RELOCATION_JOURNAL_PATH = `${METADATA_DIR}/relocating`;

/** The journal's file inside RELOCATION_JOURNAL_PATH. */
export const JOURNAL_NAME = "journal.json";

/** The container's relocation lock (container/relocation-journal.ts), relative to the container: it moves and goes with it. */
export const RELOCATION_LOCK_PATH = `${METADATA_DIR}/relocation.lock`;
