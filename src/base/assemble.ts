/**
 * Assembling a venv from a base plus unpacked layers. First a plan: every
 * path the venv will hold and where its content comes from (the base, or a
 * layer's unpacked tree), with OCI whiteouts applied in memory. Then one pass
 * that makes the directories, links or copies the files, and writes its own
 * copy of every file that needs relocating. Planning first means nothing is
 * written only to be deleted by a later layer.
 */
import { constants, copyFileSync, linkSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import type { ListedEntry } from "../image/extract.js";
import type { RelocationKind } from "../image/format.js";
import { relocateContent, RelocationError, replaceAll } from "../image/relocation.js";
import { RECORD_PATH } from "../python/record.js";
import { PypakrError } from "../util/errors.js";
import { PROMPT_PLACEHOLDER, type Base } from "./base.js";

/**
 * How files reach a container. Relocated files always get their own copy.
 * - reflink: copy-on-write clones (btrfs, xfs, ...): as fast as links, and safe to edit;
 * - hardlink: the container shares the store's inode: fast, but a file edited
 *   in place changes the store and every container sharing it;
 * - copy: independent copies (reflinks where the filesystem has them);
 * - auto: reflink where the filesystem has it, else hardlink (as uv does on Linux).
 */
export type LinkMode = "auto" | "reflink" | "hardlink" | "copy";

export type PlannedEntry =
  | { type: "dir"; mode: number }
  | { type: "symlink"; link: string; fromLayer: boolean }
  | {
      type: "file";
      source: string;
      mode: number;
      sha256: string | undefined;
      fromBase: boolean;
      relocate?: { kind: RelocationKind; from: string };
      /** What the source looked like when recorded; a link or copy checks it still does. */
      expect?: { size: number; mtimeMs: number };
    };

/**
 * A file a container would link or copy no longer looks as recorded: most
 * likely edited in place through a hard-linked container.
 */
export class StaleSourceError extends Error {
  constructor(readonly source: string) {
    super(`${source} changed since it was recorded`);
  }
}

export interface LayerTree {
  tree: string;
  entries: ListedEntry[];
}

export interface Relocation {
  files: ReadonlyMap<string, RelocationKind>;
  placeholder: string;
}

function planError(entry: string, problem: string): PypakrError {
  return new PypakrError(`layer entry "${entry}" ${problem}; refusing the image`, { hint: "The image is damaged or was crafted; get it from a trusted source." });
}

function ancestors(file: string): string[] {
  const parts = file.split("/");
  return parts.slice(1).map((_, index) => parts.slice(0, index + 1).join("/"));
}

/** Deletes `roots` and everything under them, and everything strictly under `opaque` dirs unless `keep` says otherwise. */
function prune(plan: Map<string, PlannedEntry>, roots: ReadonlySet<string>, opaque: ReadonlySet<string> = new Set()): void {
  if (roots.size === 0 && opaque.size === 0) return;
  for (const key of plan.keys()) {
    const above = ancestors(key);
    if (roots.has(key) || above.some((dir) => roots.has(dir) || opaque.has(dir))) plan.delete(key);
  }
}

/** Plans the directories above `file`, nearest first, up to the first one already planned. */
function addParentDirs(plan: Map<string, PlannedEntry>, file: string): void {
  for (let end = file.lastIndexOf("/"); end > 0; end = file.lastIndexOf("/", end - 1)) {
    const dir = file.slice(0, end);
    const existing = plan.get(dir);
    if (existing?.type === "dir") return;
    if (existing) throw planError(file, `needs "${dir}" to be a directory, but a lower layer made it a ${existing.type}`);
    plan.set(dir, { type: "dir", mode: 0o755 });
  }
}

export function planVenv(base: Base, layers: readonly LayerTree[], relocation: Relocation): Map<string, PlannedEntry> {
  const plan = new Map<string, PlannedEntry>();
  for (const entry of base.entries) {
    if (entry.type === "dir") plan.set(entry.path, { type: "dir", mode: entry.mode });
    else if (entry.type === "symlink") plan.set(entry.path, { type: "symlink", link: entry.link ?? "", fromLayer: false });
    else {
      plan.set(entry.path, {
        type: "file",
        source: `${base.dir}/${entry.path}`,
        mode: entry.mode,
        // A RECORD's manifest hash is of its normalized form (see normalizeRecord), not of the file.
        sha256: entry.relocate || RECORD_PATH.test(entry.path) ? undefined : entry.sha256,
        fromBase: true,
        ...(entry.relocate ? { relocate: { kind: entry.relocate, from: base.path } } : {}),
        ...(entry.mtimeMs !== undefined && entry.size !== undefined ? { expect: { size: entry.size, mtimeMs: entry.mtimeMs } } : {}),
      });
    }
  }
  for (const layer of layers) {
    // Whiteouts and opaque markers hide what lower layers put there, whatever their order in this layer.
    prune(plan, new Set(layer.entries.filter((e) => e.type === "whiteout").map((e) => e.path)), new Set(layer.entries.filter((e) => e.type === "opaque").map((e) => e.path)));
    for (const entry of layer.entries) {
      if (entry.type === "whiteout" || entry.type === "opaque") continue;
      addParentDirs(plan, entry.path);
      const existing = plan.get(entry.path);
      if (existing?.type === "dir" && entry.type !== "dir") prune(plan, new Set([entry.path]));
      if (entry.type === "dir") plan.set(entry.path, { type: "dir", mode: 0o755 });
      else if (entry.type === "symlink") plan.set(entry.path, { type: "symlink", link: entry.link, fromLayer: true });
      else {
        const kind = relocation.files.get(entry.path);
        plan.set(entry.path, {
          type: "file",
          source: `${layer.tree}/${entry.path}`,
          mode: entry.executable ? 0o755 : 0o644,
          sha256: kind ? undefined : entry.sha256,
          fromBase: false,
          ...(kind ? { relocate: { kind, from: relocation.placeholder } } : {}),
          ...(entry.mtimeMs !== undefined ? { expect: { size: entry.size, mtimeMs: entry.mtimeMs } } : {}),
        });
      }
    }
  }
  return plan;
}

const NO_REFLINK = new Set(["EOPNOTSUPP", "ENOTSUP", "EXDEV", "EINVAL", "ENOSYS", "ENOTTY", "EBADF"]);
const NO_HARDLINK = new Set(["EXDEV", "EPERM", "EMLINK", "EACCES"]);

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? "";
}

/** Places one unrelocated file, by the mode in force; `auto` settles on the first file. */
class FilePlacer {
  constructor(private mode: LinkMode) {}

  get settled(): LinkMode {
    return this.mode;
  }

  place(source: string, target: string, keepTime: boolean): void {
    if (this.mode === "auto") {
      try {
        copyFileSync(source, target, constants.COPYFILE_FICLONE_FORCE);
        this.mode = "reflink";
        return;
      } catch (error) {
        if (!NO_REFLINK.has(errorCode(error))) throw error;
        this.mode = "hardlink";
      }
      try {
        linkSync(source, target);
        return;
      } catch (error) {
        if (!NO_HARDLINK.has(errorCode(error))) throw error;
        this.mode = "copy";
      }
    }
    if (this.mode === "hardlink") return linkSync(source, target);
    if (this.mode === "reflink") {
      try {
        copyFileSync(source, target, constants.COPYFILE_FICLONE_FORCE);
      } catch (error) {
        if (!NO_REFLINK.has(errorCode(error))) throw error;
        throw new PypakrError(`this filesystem cannot make reflinks (copy-on-write clones): ${(error as Error).message}`, { hint: "Use --link auto, hardlink or copy." });
      }
    } else {
      copyFileSync(source, target, constants.COPYFILE_FICLONE);
    }
    // A fresh inode has a fresh mtime; the base's bytecode is valid only for its sources' mtimes.
    if (keepTime) {
      const stat = statSync(source);
      utimesSync(target, stat.atime, stat.mtime);
    }
  }
}

/**
 * Writes `plan` into `dir` (existing and empty) for a venv that will live at
 * `prefix`. `prompt` replaces the base's activate prompt (none for a build's
 * work env, which must compare equal to its base). Returns the link mode used.
 */
export function materializeVenv(plan: ReadonlyMap<string, PlannedEntry>, dir: string, prefix: string, options: { link: LinkMode; prompt?: string }): LinkMode {
  const placer = new FilePlacer(options.link);
  for (const file of [...plan.keys()].sort()) {
    const entry = plan.get(file) as PlannedEntry;
    const target = `${dir}/${file}`;
    if (entry.type === "dir") {
      mkdirSync(target, { mode: entry.mode });
    } else if (entry.type === "symlink") {
      symlinkSync(entry.link, target);
    } else if (entry.relocate) {
      let content: Buffer;
      try {
        content = relocateContent(readFileSync(entry.source), entry.relocate.kind, entry.relocate.from, prefix);
      } catch (error) {
        if (!(error instanceof RelocationError)) throw error;
        throw new PypakrError(`cannot relocate ${file} to ${prefix}: ${error.message}`, { hint: `Choose a container path of at most ${Buffer.byteLength(entry.relocate.from)} bytes.` });
      }
      if (entry.fromBase && options.prompt !== undefined && entry.relocate.kind === "text") content = replaceAll(content, PROMPT_PLACEHOLDER, options.prompt);
      writeFileSync(target, content, { mode: entry.mode });
    } else {
      if (entry.expect) {
        const stat = statSync(entry.source);
        if (stat.size !== entry.expect.size || stat.mtimeMs !== entry.expect.mtimeMs) throw new StaleSourceError(entry.source);
      }
      placer.place(entry.source, target, entry.fromBase);
    }
  }
  return placer.settled === "auto" ? "copy" : placer.settled;
}
