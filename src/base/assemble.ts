/**
 * Assembling a venv from a base plus unpacked layers. First a plan: every
 * path the venv will hold and where its content comes from (the base, or a
 * layer's unpacked tree), with OCI whiteouts applied in memory. Then one pass
 * that makes the directories, links or copies the files, and writes its own
 * copy of every file that needs relocating. Planning first means nothing is
 * written only to be deleted by a later layer.
 */
import { readFileSync, statSync, utimesSync } from "node:fs";
import { DEFAULT_MAX_ENTRIES, entryPathProblem, symlinkProblem, type ListedEntry } from "../image/extract/index.js";
import type { RelocationKind } from "../image/format.js";
import { relocateContent, RelocationError, relocateText } from "../image/relocation.js";
import { RECORD_PATH } from "../python/record.js";
import type { ConfinedTree } from "../util/confined-tree.js";
import { PypakrError } from "../util/errors.js";
import { PathMap } from "../util/path-map.js";
import { normalizeEntryName } from "../util/tar.js";
import { PROMPT_PLACEHOLDER, type Base } from "./base.js";
import type { ManifestEntry } from "./manifest.js";
import { RESERVED_NAMES } from "../layout/index.js";

/**
 * How shared files reach a container: the base's files and those installed
 * from a distribution's RECORD, which nobody means to edit in place (pip
 * replaces them whole). Everything else (the app-files layer: app files,
 * an editable install's sources, whatever setup wrote) is always the
 * container's own copy, reflinked where the filesystem can: editing those
 * is what a container is for, and through a hard link an edit in place
 * would reach the store and every container of the image. Relocated files
 * always get their own copy.
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
      /** May share the source's inode (--link hardlink); false: always the container's own copy (see LinkMode). */
      shareable: boolean;
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
  /** The layer of one distribution (files from its RECORD), whose files may be linked; any other layer is copied. */
  distribution?: boolean;
}

export interface Relocation {
  files: ReadonlyMap<string, RelocationKind>;
  placeholder: string;
}

function planError(entry: string, problem: string): PypakrError {
  return new PypakrError(`layer entry "${entry}" ${problem}; refusing the image`, { code: "unsafe-entry", hint: "The image is damaged or was crafted; get it from a trusted source." });
}

function baseError(base: Base, entry: string, problem: string): PypakrError {
  return new PypakrError(`the base at ${base.dir} lists "${entry}", which ${problem}; refusing to use it`, {
    code: "base-damaged",
    hint: "The base's record was damaged or planted; recreate it with pypakr init --force.",
  });
}

/** Why a base's manifest entry may not be placed, or null: the rules layer entries follow, with the base's own absolute links allowed. */
function baseEntryProblem(entry: ManifestEntry): string | null {
  const name = normalizeEntryName(entry.path);
  if ("error" in name) return name.error;
  if (name.path !== entry.path || name.path === "") return "is not a plain relative path";
  const problem = entryPathProblem(entry.path, RESERVED_NAMES);
  if (problem) return problem;
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o777) return "has a mode outside 0-0777";
  // A base is made by pypakr init from a local interpreter: its links to that interpreter are absolute.
  if (entry.type === "symlink") return symlinkProblem(entry.path, entry.link ?? "", true);
  return null;
}

/**
 * The venv being planned: every path and what goes there. One routine
 * places base and layer entries alike, so both get the same checks: each
 * parent must be (or becomes) a planned directory, never a symlink or a
 * file. Dropping a path drops what is below it in time proportional to what
 * goes (see PathMap), so planning is linear in entries.
 */
class Plan {
  readonly entries = new PathMap<PlannedEntry>();
  private placed = 0;

  constructor(private readonly maxEntries: number) {}

  /** `below` names what a blocking parent came from in messages ("a lower layer", "the base"). */
  place(file: string, planned: PlannedEntry, fail: (problem: string) => PypakrError, below = "a lower layer"): void {
    if (++this.placed > this.maxEntries) {
      throw new PypakrError(`the image and its base hold more than ${this.maxEntries} entries; refusing it`, {
        code: "too-large",
        hint: "The image was crafted to exhaust this machine, or is larger than pypakr allows by default; if you trust it, raise the limit with PYPAKR_MAX_IMAGE_ENTRIES.",
      });
    }
    for (const parent of this.entries.parents(file)) {
      if (!parent.present) this.entries.set(parent.path, { type: "dir", mode: 0o755 });
      else if (parent.value?.type !== "dir") throw fail(`needs "${parent.path}" to be a directory, but ${below} made it a ${parent.value?.type ?? "file"}`);
    }
    if (planned.type !== "dir" && this.entries.get(file)?.type === "dir") this.entries.deleteTree(file);
    this.entries.set(file, planned);
  }

  /** A whiteout: the path and everything below it goes. */
  remove(file: string): void {
    this.entries.deleteTree(file);
  }

  /** An opaque directory: everything below it goes. */
  empty(dir: string): void {
    this.entries.deleteBelow(dir);
  }
}

export interface PlanOptions {
  /** Entries the base and all layers may hold together (DEFAULT_MAX_ENTRIES when not given). */
  maxEntries?: number;
}

export function planVenv(base: Base, layers: readonly LayerTree[], relocation: Relocation, options: PlanOptions = {}): Map<string, PlannedEntry> {
  const plan = new Plan(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
  for (const entry of base.entries) {
    const problem = baseEntryProblem(entry);
    const fail = (text: string) => baseError(base, entry.path, text);
    if (problem) throw fail(problem);
    if (entry.type === "dir") plan.place(entry.path, { type: "dir", mode: entry.mode }, fail, "the base");
    else if (entry.type === "symlink") plan.place(entry.path, { type: "symlink", link: entry.link ?? "", fromLayer: false }, fail, "the base");
    else {
      plan.place(
        entry.path,
        {
          type: "file",
          source: `${base.dir}/${entry.path}`,
          mode: entry.mode,
          // A RECORD's manifest hash is of its normalized form (see normalizeRecord), not of the file.
          sha256: entry.relocate || RECORD_PATH.test(entry.path) ? undefined : entry.sha256,
          fromBase: true,
          // A base's files that no RECORD lists are the interpreter's links, pyvenv.cfg and bin/activate*,
          // which name the base's path and so get their own relocated copy anyway, and Activate.ps1 (it
          // finds its path at run time; nobody edits it). The rest are pip's, from its RECORD. So base
          // files keep the link mode: what a user edits is never linked.
          shareable: true,
          ...(entry.relocate ? { relocate: { kind: entry.relocate, from: base.path } } : {}),
          ...(entry.mtimeMs !== undefined && entry.size !== undefined ? { expect: { size: entry.size, mtimeMs: entry.mtimeMs } } : {}),
        },
        fail,
        "the base",
      );
    }
  }
  for (const layer of layers) {
    // Whiteouts and opaque markers hide what lower layers put there, whatever their order in this layer.
    for (const entry of layer.entries) {
      if (entry.type === "whiteout") plan.remove(entry.path);
      else if (entry.type === "opaque") plan.empty(entry.path);
    }
    for (const entry of layer.entries) {
      if (entry.type === "whiteout" || entry.type === "opaque") continue;
      const fail = (problem: string) => planError(entry.path, problem);
      if (entry.type === "dir") plan.place(entry.path, { type: "dir", mode: 0o755 }, fail);
      else if (entry.type === "symlink") plan.place(entry.path, { type: "symlink", link: entry.link, fromLayer: true }, fail);
      else {
        const kind = relocation.files.get(entry.path);
        plan.place(
          entry.path,
          {
            type: "file",
            source: `${layer.tree}/${entry.path}`,
            mode: entry.executable ? 0o755 : 0o644,
            sha256: kind ? undefined : entry.sha256,
            fromBase: false,
            shareable: layer.distribution === true,
            ...(kind ? { relocate: { kind, from: relocation.placeholder } } : {}),
            ...(entry.mtimeMs !== undefined ? { expect: { size: entry.size, mtimeMs: entry.mtimeMs } } : {}),
          },
          fail,
        );
      }
    }
  }
  return new Map(plan.entries.entries());
}

const NO_REFLINK = new Set(["EOPNOTSUPP", "ENOTSUP", "EXDEV", "EINVAL", "ENOSYS", "ENOTTY", "EBADF"]);
const NO_HARDLINK = new Set(["EXDEV", "EPERM", "EMLINK", "EACCES"]);

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? "";
}

/**
 * Places one unrelocated file, by the mode in force; `auto` settles on the
 * first shareable file. A file that is not shareable is copied whatever the
 * mode (a reflink is a copy too), and settles nothing.
 */
class FilePlacer {
  constructor(
    private readonly tree: ConfinedTree,
    private mode: LinkMode,
  ) {}

  get settled(): LinkMode {
    return this.mode;
  }

  place(source: string, file: string, options: { keepTime: boolean; shareable: boolean }): void {
    if (!options.shareable) return this.copy(source, file, this.mode === "reflink" ? "reflink" : "copy", options.keepTime);
    if (this.mode === "auto") {
      try {
        this.tree.copy(source, file, "force");
        this.mode = "reflink";
        return;
      } catch (error) {
        if (!NO_REFLINK.has(errorCode(error))) throw error;
        this.mode = "hardlink";
      }
      try {
        this.tree.link(source, file);
        return;
      } catch (error) {
        if (!NO_HARDLINK.has(errorCode(error))) throw error;
        this.mode = "copy";
      }
    }
    if (this.mode === "hardlink") return this.tree.link(source, file);
    this.copy(source, file, this.mode === "reflink" ? "reflink" : "copy", options.keepTime);
  }

  private copy(source: string, file: string, how: "reflink" | "copy", keepTime: boolean): void {
    if (how === "reflink") {
      try {
        this.tree.copy(source, file, "force");
      } catch (error) {
        if (!NO_REFLINK.has(errorCode(error))) throw error;
        throw new PypakrError(`this filesystem cannot make reflinks (copy-on-write clones): ${(error as Error).message}`, { code: "reflink-unsupported", hint: "Use --link auto, hardlink or copy." });
      }
    } else {
      this.tree.copy(source, file, "try");
    }
    // A fresh inode has a fresh mtime; the base's bytecode is valid only for its sources' mtimes.
    // (The target is the regular file just created exclusively, so utimes cannot follow a link.)
    if (keepTime) {
      const stat = statSync(source);
      utimesSync(`${this.tree.root}/${file}`, stat.atime, stat.mtime);
    }
  }
}

/**
 * A relocated file's content in a venv at `prefix`: the path it was stored
 * with replaced, and in the base's text files the activate prompt (unless
 * `prompt` is undefined). create-container writes this and verify expects
 * it, so the two cannot drift apart. Throws RelocationError when a binary
 * file cannot take the path.
 */
export function relocatedContent(entry: { source: string; fromBase: boolean }, relocate: { kind: RelocationKind; from: string }, prefix: string, prompt: string | undefined): Buffer {
  const content = relocateContent(readFileSync(entry.source), relocate.kind, relocate.from, prefix);
  return entry.fromBase && prompt !== undefined && relocate.kind === "text" ? relocateText(content, PROMPT_PLACEHOLDER, prompt) : content;
}

/**
 * Writes `plan` into `tree` (an existing, empty directory) for a venv that
 * will live at `prefix`. `prompt` replaces the base's activate prompt (none
 * for a build's work env, which must compare equal to its base). Every write
 * goes through the tree, which never follows a symlink (see ConfinedTree).
 * Returns the link mode used.
 */
export function materializeVenv(plan: ReadonlyMap<string, PlannedEntry>, tree: ConfinedTree, prefix: string, options: { link: LinkMode; prompt?: string }): LinkMode {
  const placer = new FilePlacer(tree, options.link);
  // Sorted, a directory comes before what it holds.
  for (const file of [...plan.keys()].sort()) {
    const entry = plan.get(file) as PlannedEntry;
    if (entry.type === "dir") {
      tree.mkdir(file, entry.mode);
    } else if (entry.type === "symlink") {
      tree.symlink(file, entry.link);
    } else if (entry.relocate) {
      let content: Buffer;
      try {
        content = relocatedContent(entry, entry.relocate, prefix, options.prompt);
      } catch (error) {
        if (!(error instanceof RelocationError)) throw error;
        throw new PypakrError(`cannot relocate ${file} to ${prefix}: ${error.message}`, { code: "path-too-long", hint: `Choose a container path of at most ${Buffer.byteLength(entry.relocate.from)} bytes.` });
      }
      tree.writeFile(file, content, entry.mode);
    } else {
      if (entry.expect) {
        const stat = statSync(entry.source);
        if (stat.size !== entry.expect.size || stat.mtimeMs !== entry.expect.mtimeMs) throw new StaleSourceError(entry.source);
      }
      placer.place(entry.source, file, { keepTime: entry.fromBase, shareable: entry.shareable });
    }
  }
  return placer.settled === "auto" ? "copy" : placer.settled;
}
