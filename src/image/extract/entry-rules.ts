/**
 * The checks on one tar entry that hold in any tree, before anything is
 * written (PEP 706's `data` filter, plus pypakr's and OCI's own rules):
 *
 * - names: relative, no `..`, no NUL, and no reserved name (pypakr's own
 *   `.pypakr`) at any depth;
 * - symlinks whose text stays inside the tree;
 * - hard links to a safe name that is not the entry itself or below it;
 * - no devices, fifos or other special files;
 * - well-formed whiteouts (whiteouts.ts).
 */
import { PypakrError, type ErrorCode } from "../../util/errors.js";
import { normalizeEntryName, type TarHeader } from "../../util/tar.js";
import { WHITEOUT_PREFIX } from "../layer-writer.js";
import { symlinkFault } from "./symlinks.js";
import { whiteoutEntry, type WhiteoutEntry, type WhiteoutMode } from "./whiteouts.js";

/**
 * The most entries one layer (or source archive) may hold, and one image in
 * all, unless the settings say otherwise. The largest real environments
 * (a CUDA PyTorch stack) hold about 60,000 files; a tar header is 512 bytes
 * that compress to a few, so without a cap a small download could ask for
 * millions of files.
 */
export const DEFAULT_MAX_ENTRIES = 1_000_000;

/** What an archive may hold: the rules that differ between an image layer and a source. */
export interface EntryRules {
  /** Names the archive in error messages. */
  what: string;
  whiteouts: WhiteoutMode;
  /** Names the archive may not use at any depth (pypakr's own metadata). */
  reserved?: ReadonlySet<string>;
  /**
   * A whole root filesystem (a runtime image's layers, see export/): its
   * symlinks may lead anywhere, since they are only ever followed by a
   * sandbox that has the tree as its `/` (where no path leads out), and its
   * device nodes and fifos are left out, since the sandbox brings its own
   * /dev. Nothing on the host follows a link in such a tree.
   */
  rootfs?: boolean;
}

/** Makes the refusal of one entry. */
export type EntryFailure = (entry: string, problem: string) => PypakrError;

export function entryError(what: string, entry: string, problem: string, code: ErrorCode = "unsafe-entry"): PypakrError {
  return new PypakrError(`${what}: entry "${entry}" ${problem}; refusing to extract it`, {
    code,
    hint: "The archive is damaged or was crafted to write outside its target; get it from a trusted source.",
  });
}

export function tooManyEntries(what: string, limit: number): PypakrError {
  return new PypakrError(`${what} holds more than ${limit} entries; refusing it`, {
    code: "too-large",
    hint: "The archive was crafted to exhaust this machine, or is larger than pypakr allows by default; if you trust it, raise the limit with PYPAKR_MAX_LAYER_ENTRIES.",
  });
}

/**
 * Why a (normalized, relative) path may not be used by an entry of a layer
 * or a base, or null: a reserved name at any depth (a `.pypakr` anywhere is
 * pypakr's, and one deep in a layer's cached tree once passed for a base's
 * record), or a directory named like a whiteout.
 */
export function entryPathProblem(relative: string, reserved: ReadonlySet<string> | undefined): string | null {
  const parts = relative.split("/");
  const own = reserved ? parts.find((part) => reserved.has(part)) : undefined;
  if (own !== undefined) return `uses the name "${own}", which is pypakr's own`;
  // A directory named like a whiteout is no whiteout, but in an image it reads as one: `.wh.x/f` would be
  // refused (or misread) when the image is extracted, so neither a source nor a layer may hold one.
  if (parts.slice(0, -1).some((part) => part.startsWith(WHITEOUT_PREFIX))) return "is inside a directory named like an OCI whiteout (.wh.*)";
  return null;
}

/** What an entry is once its header passed every check that needs no tree. */
export type CheckedEntry =
  | { kind: "directory" | "file"; relative: string }
  | { kind: "symlink"; relative: string; link: string }
  | { kind: "link"; relative: string; linkTarget: { path: string; link: string } }
  | WhiteoutEntry;

/** Checks one entry's header against `rules`. Null for what is skipped: the archive's root directory, and a root filesystem's device nodes. */
export function checkEntry(header: TarHeader, rules: EntryRules): CheckedEntry | null {
  const fail: EntryFailure = (entry, problem) => entryError(rules.what, entry, problem);
  const name = normalizeEntryName(header.name);
  if ("error" in name) throw fail(header.name, name.error);
  const relative = name.path;
  if (relative === "") {
    if (header.type === "directory") return null;
    throw fail(header.name, "names the target directory itself");
  }
  const problem = entryPathProblem(relative, rules.reserved);
  if (problem) throw fail(relative, problem);
  const whiteout = whiteoutEntry(relative, header, rules.whiteouts, rules.reserved, fail);
  if (whiteout) return whiteout;
  switch (header.type) {
    case "directory":
      return { kind: "directory", relative };
    case "file":
    case "contiguous-file":
      return { kind: "file", relative };
    case "symlink": {
      const link = header.linkname ?? "";
      if (rules.rootfs) {
        if (link === "" || link.includes("\0")) throw fail(relative, "is a symlink with an empty or NUL-holding target");
        return { kind: "symlink", relative, link };
      }
      const linkFault = symlinkFault(relative, link);
      if (linkFault) throw entryError(rules.what, relative, linkFault.problem, linkFault.code);
      return { kind: "symlink", relative, link };
    }
    case "link": {
      const link = header.linkname ?? "";
      const target = normalizeEntryName(link);
      if ("error" in target || target.path === "") throw fail(relative, `is a hard link to "${link}", which ${"error" in target ? target.error : "is the target itself"}`);
      // Linking a name to itself or to a file below it would first remove the very file it links to.
      if (target.path === relative || target.path.startsWith(`${relative}/`)) throw fail(relative, `is a hard link to "${link}", which is ${target.path === relative ? "itself" : "below itself"}`);
      const targetProblem = entryPathProblem(target.path, rules.reserved);
      if (targetProblem) throw fail(relative, `is a hard link to "${link}", which ${targetProblem}`);
      return { kind: "link", relative, linkTarget: { path: target.path, link } };
    }
    case "character-device":
    case "block-device":
    case "fifo":
      if (rules.rootfs) return null;
      throw fail(relative, `is a ${header.type}, which a venv never needs`);
    default:
      // A type the parser names beyond those above (or none).
      throw fail(relative, `is a ${(header.type as string | null | undefined) ?? "special file"}, which a venv never needs`);
  }
}
