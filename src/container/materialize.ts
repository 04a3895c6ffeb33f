/**
 * Materializing a planned venv (base/assemble.ts's planVenv) into a
 * directory: makes the directories, links or copies the files, and writes its
 * own copy of every file that needs relocating. create-container writes a
 * container this way; create-image makes its work env (the base alone) the
 * same way, through this folder's face.
 */
import { readFileSync, statSync, utimesSync } from "node:fs";
import { type PlannedEntry, PROMPT_PLACEHOLDER } from "../base/index.js";
import { relocateContent, relocateText, RelocationError, type RelocationKind } from "../image/index.js";
import type { ConfinedTree } from "../util/confined-tree.js";
import { PypakrError } from "../util/errors.js";

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

/**
 * A file a container would link or copy no longer looks as recorded: most
 * likely edited in place through a hard-linked container.
 */
export class StaleSourceError extends Error {
  constructor(readonly source: string) {
    super(`${source} changed since it was recorded`);
  }
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
 * will live at `prefix`. The plan lists each directory before what it holds,
 * as planVenv's does (the tree refuses anything else). `prompt` replaces the
 * base's activate prompt (none for a build's work env, which must compare
 * equal to its base). Every write goes through the tree, which never follows
 * a symlink (see ConfinedTree). Returns the link mode used, and the links
 * that came from layers, which the caller checks together.
 */
export function materializeVenv(plan: ReadonlyMap<string, PlannedEntry>, tree: ConfinedTree, prefix: string, options: { link: LinkMode; prompt?: string }): { link: LinkMode; layerLinks: Set<string> } {
  const placer = new FilePlacer(tree, options.link);
  const layerLinks = new Set<string>();
  for (const [file, entry] of plan) {
    if (entry.type === "dir") {
      tree.mkdir(file, entry.mode);
    } else if (entry.type === "symlink") {
      tree.symlink(file, entry.link);
      if (entry.fromLayer) layerLinks.add(file);
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
  return { link: placer.settled === "auto" ? "copy" : placer.settled, layerLinks };
}
