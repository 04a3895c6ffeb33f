/**
 * What a build changed: the work env compared with the base it was made
 * from, entry by entry. Both manifests hash content with their own path
 * replaced by the placeholder and a shebang naming the env's interpreter in
 * one form (placeholderForm), so an unchanged relocated file (an activate
 * script, pip's launcher, even rewritten by a pip run another way) compares equal. Bytecode is left out: containers
 * compile it on demand, and it would make images differ from build to build.
 */
import * as path from "node:path";
import { type Base, isBytecodePath, manifestByPath, type ManifestEntry, scanTree, UnsupportedFileError } from "../base/index.js";
import { METADATA_DIR } from "../layout/index.js";
import { linkDestination, type RelocationKind, WHITEOUT_PREFIX } from "../image/index.js";
import { PypakrError } from "../util/errors.js";

export type Change =
  | { type: "dir"; path: string }
  | { type: "file"; path: string; executable: boolean; size: number; relocate?: RelocationKind }
  | { type: "symlink"; path: string; link: string }
  | { type: "whiteout"; path: string };

function isExecutable(mode: number): boolean {
  return (mode & 0o111) !== 0;
}

function sameEntry(work: ManifestEntry, base: ManifestEntry): boolean {
  if (work.type !== base.type) return false;
  if (work.type === "symlink") return work.link === base.link;
  if (work.type === "file") return work.sha256 === base.sha256 && isExecutable(work.mode) === isExecutable(base.mode);
  return true;
}

/** A symlink an image can carry: relative and inside the env (absolute ones into the env are made relative). */
function portableLink(workEnv: string, entry: ManifestEntry): string {
  const link = entry.link ?? "";
  const from = path.posix.dirname(entry.path);
  let relative = link;
  if (path.posix.isAbsolute(link)) {
    if (!link.startsWith(`${workEnv}/`)) {
      throw new PypakrError(`the build made ${entry.path} a symlink to ${link}, outside the environment`, {
        code: "build-not-packable",
        hint: "Images must be self-contained: copy the file into the environment instead of linking to it.",
      });
    }
    relative = path.posix.relative(from, link.slice(workEnv.length + 1));
  }
  if (linkDestination(entry.path, relative) === null) {
    throw new PypakrError(`the build made ${entry.path} a symlink to ${link}, outside the environment`, { code: "build-not-packable", hint: "Link only to files inside the environment." });
  }
  return relative;
}

/**
 * Refuses a name the build left that no image may hold, so create-image
 * never writes an image that load would refuse: `.pypakr` (pypakr's own, at
 * any depth) and `.wh.*` (an OCI whiteout, which would read as a deletion).
 */
function checkImageName(relative: string): void {
  const part = relative.split("/").find((name) => name === METADATA_DIR || name.startsWith(WHITEOUT_PREFIX));
  if (part === undefined) return;
  throw new PypakrError(`the build left ${relative}, and no image may hold a file or directory named "${part}" (${part === METADATA_DIR ? "pypakr's own name" : "an OCI whiteout name"})`, {
    code: "build-not-packable",
    hint: "Rename it in the source, or remove it in setup.",
  });
}

export interface WorkEnvDiff {
  changes: Change[];
  /**
   * Every file of the work env that names its path, changed or not: a file
   * the build left as the base had it is no change, yet the RECORD of a
   * distribution that (re)wrote it holds the hash of its content at the work
   * path, a random one (see normalizedRecords in layers.ts).
   */
  relocated: ReadonlySet<string>;
}

export async function diffWorkEnv(workEnv: string, base: Base): Promise<WorkEnvDiff> {
  let entries: ManifestEntry[];
  try {
    entries = await scanTree(workEnv, { skip: (relative) => path.posix.basename(relative) === "__pycache__" });
  } catch (error) {
    if (!(error instanceof UnsupportedFileError)) throw error;
    throw new PypakrError(`the build left ${error.relativePath}, which is not a regular file, directory or symlink`, { code: "build-not-packable", hint: "Remove it in setup (an image holds files, directories and symlinks only)." });
  }
  const baseEntries = manifestByPath(base.entries);
  const work = manifestByPath(entries);
  const changes: Change[] = [];
  for (const entry of entries) {
    checkImageName(entry.path);
    const before = baseEntries.get(entry.path);
    if (before && sameEntry(entry, before)) continue;
    if (entry.type === "dir") changes.push({ type: "dir", path: entry.path });
    else if (entry.type === "symlink") changes.push({ type: "symlink", path: entry.path, link: portableLink(workEnv, entry) });
    else changes.push({ type: "file", path: entry.path, executable: isExecutable(entry.mode), size: entry.size ?? 0, ...(entry.relocate ? { relocate: entry.relocate } : {}) });
  }
  // One whiteout per deleted subtree: only where the parent still exists as a directory.
  for (const entry of base.entries) {
    if (work.has(entry.path) || isBytecodePath(entry.path)) continue;
    const parent = path.posix.dirname(entry.path);
    if (parent === "." || work.get(parent)?.type === "dir") changes.push({ type: "whiteout", path: entry.path });
  }
  return { changes, relocated: new Set(entries.flatMap((entry) => (entry.relocate ? [entry.path] : []))) };
}
