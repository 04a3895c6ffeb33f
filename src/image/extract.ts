/**
 * Extracting an untrusted tar (an image layer or a source archive) into a
 * directory. Every entry is checked before anything is written:
 *
 * - names: relative, no `..`, no NUL (PEP 706's `data` filter rules), and
 *   no reserved name (pypakr's own `.pypakr`) at any depth;
 * - nothing is written through a symlink: each parent directory is checked
 *   with lstat, and an existing entry is unlinked, never opened, before its
 *   replacement is created exclusively;
 * - symlinks must stay inside the tree (judged on their text, and since no
 *   write ever follows a link, a chain cannot be used to escape);
 * - hard links must name a regular file already inside the tree;
 * - no devices, fifos or other special files; modes are reduced to 0644/0755,
 *   so no setuid, setgid or sticky bits;
 * - at most `maxEntries` entries, and work linear in them.
 *
 * A layer is unpacked alone (into the store's cache), so its OCI whiteouts
 * (`.wh.NAME`, `.wh..wh..opq`) are recorded in its listing, never applied
 * here: assembly (src/base/assemble.ts) applies them to lower layers.
 */
import { chmodSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { PypakrError, type ErrorCode } from "../util/errors.js";
import { lstatOrNull, lstatOrNullSync, writeNewFile } from "../util/fs.js";
import { sha256Hex } from "../util/hash.js";
import { PathMap } from "../util/path-map.js";
import { ArchiveTooLargeError, normalizeEntryName, readBody, readTarFile, type TarHeader } from "../util/tar.js";
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from "./layer-writer.js";

/**
 * The most entries one layer (or source archive) may hold, and one image in
 * all, unless the settings say otherwise. The largest real environments
 * (a CUDA PyTorch stack) hold about 60,000 files; a tar header is 512 bytes
 * that compress to a few, so without a cap a small download could ask for
 * millions of files.
 */
export const DEFAULT_MAX_ENTRIES = 1_000_000;

export interface ExtractOptions {
  /** Names the archive in error messages. */
  what: string;
  /**
   * OCI whiteouts: "record" them in `listing` (a layer unpacked alone, for
   * the store's cache), or "refuse" `.wh.` names (a source, where one would
   * mean a deletion in the image).
   */
  whiteouts: "record" | "refuse";
  /** Filled with every entry as unpacked, file hashes included (required with whiteouts: "record"). */
  listing?: ListedEntry[];
  /** The archive file's expected sha256 (hex), checked while it is read: a mismatch fails the extraction. */
  expectSha256?: string;
  /** Names the archive may not use at any depth (pypakr's own metadata). */
  reserved?: ReadonlySet<string>;
  /** Entries the archive may hold (DEFAULT_MAX_ENTRIES when not given). */
  maxEntries?: number;
}

/** An entry as unpacked, in archive order; whiteouts and opaque markers only when recorded. */
export type ListedEntry =
  | { type: "dir"; path: string }
  | ListedFile
  | { type: "symlink"; path: string; link: string }
  | { type: "whiteout"; path: string }
  | { type: "opaque"; path: string };

export type ListedFile = { type: "file"; path: string; executable: boolean; size: number; sha256: string; mtimeMs?: number };

/** Files up to this size are read whole and written with one call. */
const SMALL_FILE_BYTES = 1024 * 1024;

function entryError(what: string, entry: string, problem: string, code: ErrorCode = "unsafe-entry"): PypakrError {
  return new PypakrError(`${what}: entry "${entry}" ${problem}; refusing to extract it`, {
    code,
    hint: "The archive is damaged or was crafted to write outside its target; get it from a trusted source.",
  });
}

function tooManyEntries(what: string, limit: number): PypakrError {
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

/**
 * Why a symlink at `relative` with text `link` may not be made, or null. An
 * absolute target is refused unless `allowAbsolute` (a base's own links to
 * its interpreter, which pypakr init made).
 */
export function symlinkProblem(relative: string, link: string, allowAbsolute = false): string | null {
  return symlinkFault(relative, link, allowAbsolute)?.problem ?? null;
}

/**
 * symlinkProblem with its kind: a link that leaves the tree (absolute, or up
 * through ..) has its own code, since a tar of a source holding a venv
 * carries such links and create-image says how to leave them out.
 */
function symlinkFault(relative: string, link: string, allowAbsolute = false): { problem: string; code: ErrorCode } | null {
  if (link === "" || link.includes("\0")) return { problem: "is a symlink with an empty or NUL-holding target", code: "unsafe-entry" };
  if (path.posix.isAbsolute(link)) return allowAbsolute ? null : { problem: `is a symlink to the absolute path "${link}"`, code: "link-leaves-tree" };
  // normalize keeps a trailing slash ("./a/" -> "a/"), which would hide "itself" and "the target itself".
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(relative), link)).replace(/(.)\/+$/, "$1");
  if (resolved === ".." || resolved.startsWith("../")) return { problem: `is a symlink to "${link}", outside the target`, code: "link-leaves-tree" };
  if (resolved === "." || resolved === relative) return { problem: `is a symlink to "${link}", which resolves to ${resolved === "." ? "the target itself" : "itself"}`, code: "unsafe-entry" };
  return null;
}

/** What an entry is once its header passed every check that needs no filesystem. */
type CheckedEntry =
  | { kind: "directory" | "file" | "symlink"; relative: string }
  | { kind: "link"; relative: string; linkTarget: { path: string; link: string } }
  | { kind: "whiteout"; relative: string; victim: string }
  | { kind: "opaque"; relative: string; victim: string };

/**
 * The checks on one entry that hold in any tree (PEP 706's `data` filter,
 * plus OCI whiteout rules): a safe relative name, an allowed type, a symlink
 * whose text stays inside, a hard link to a safe name, a well-formed
 * whiteout. Null for the archive's root directory, which is skipped.
 */
function checkEntry(header: TarHeader, options: Pick<ExtractOptions, "what" | "whiteouts" | "reserved">): CheckedEntry | null {
  const fail = (entry: string, problem: string) => entryError(options.what, entry, problem);
  const name = normalizeEntryName(header.name);
  if ("error" in name) throw fail(header.name, name.error);
  const relative = name.path;
  if (relative === "") {
    if (header.type === "directory") return null;
    throw fail(header.name, "names the target directory itself");
  }
  const problem = entryPathProblem(relative, options.reserved);
  if (problem) throw fail(relative, problem);
  const parts = relative.split("/");
  const base = parts[parts.length - 1] ?? "";
  if (base.startsWith(WHITEOUT_PREFIX)) {
    if (options.whiteouts === "refuse") throw fail(relative, "is named like an OCI whiteout (.wh.*), which would delete files in an image; rename it");
    if (header.type !== "file" || (header.size ?? 0) !== 0) throw fail(relative, "is a whiteout that is not an empty regular file");
    const dir = parts.slice(0, -1).join("/");
    if (base === OPAQUE_WHITEOUT) {
      if (dir === "") throw fail(relative, "makes the whole tree opaque");
      return { kind: "opaque", relative, victim: dir };
    }
    const victimName = base.slice(WHITEOUT_PREFIX.length);
    if (victimName === "" || victimName === "." || victimName === ".." || victimName.startsWith(WHITEOUT_PREFIX)) throw fail(relative, "is a whiteout that names no file");
    // `.wh..pypakr` would delete the container's own metadata as surely as writing into it would overwrite it.
    if (options.reserved?.has(victimName)) throw fail(relative, `is a whiteout of "${victimName}", which is pypakr's own`);
    return { kind: "whiteout", relative, victim: dir ? `${dir}/${victimName}` : victimName };
  }
  switch (header.type) {
    case "directory":
      return { kind: "directory", relative };
    case "file":
    case "contiguous-file":
      return { kind: "file", relative };
    case "symlink": {
      const linkFault = symlinkFault(relative, header.linkname ?? "");
      if (linkFault) throw entryError(options.what, relative, linkFault.problem, linkFault.code);
      return { kind: "symlink", relative };
    }
    case "link": {
      const link = header.linkname ?? "";
      const target = normalizeEntryName(link);
      if ("error" in target || target.path === "") throw fail(relative, `is a hard link to "${link}", which ${"error" in target ? target.error : "is the target itself"}`);
      // Linking a name to itself or to a file below it would first remove the very file it links to.
      if (target.path === relative || target.path.startsWith(`${relative}/`)) throw fail(relative, `is a hard link to "${link}", which is ${target.path === relative ? "itself" : "below itself"}`);
      const targetProblem = entryPathProblem(target.path, options.reserved);
      if (targetProblem) throw fail(relative, `is a hard link to "${link}", which ${targetProblem}`);
      return { kind: "link", relative, linkTarget: { path: target.path, link } };
    }
    default:
      throw fail(relative, `is a ${header.type ?? "special file"}, which a venv never needs`);
  }
}

class Extraction {
  /** Directories known to be real directories inside the tree (the root is implied). */
  private readonly verifiedDirs = new PathMap<true>();
  /** The last file listed at each path, for hard links to copy. */
  private readonly listedFiles = new Map<string, ListedFile>();
  private entries = 0;
  /** Symlinks this archive made; they are checked again once the whole tree is there. */
  readonly symlinks = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly options: ExtractOptions,
  ) {}

  fail(entry: string, problem: string): PypakrError {
    return entryError(this.options.what, entry, problem);
  }

  private forget(relative: string): void {
    this.verifiedDirs.deleteTree(relative);
  }

  /**
   * Makes sure every parent of `relative` is a real directory inside the
   * tree, creating missing ones. `entry` is the archive entry being applied,
   * for the error message.
   */
  private ensureParents(relative: string, entry = relative): void {
    for (const parent of this.verifiedDirs.parents(relative)) {
      if (parent.present) continue;
      const current = parent.path;
      const full = path.join(this.root, current);
      const stat = lstatOrNullSync(full);
      if (stat === null) mkdirSync(full, { mode: 0o755 });
      else if (stat.isSymbolicLink()) throw this.fail(entry, `would reach "${relative}" through the symlink "${current}"`);
      else if (!stat.isDirectory()) throw this.fail(entry, `needs "${current}" to be a directory, but it is a file`);
      this.verifiedDirs.set(current, true);
    }
  }

  /** Removes whatever is at `relative` (a link itself, never what it points to). */
  private clear(relative: string): "dir" | "other" | "none" {
    const full = path.join(this.root, relative);
    const stat = lstatOrNullSync(full);
    if (stat === null) return "none";
    if (stat.isDirectory()) return "dir";
    unlinkSync(full);
    this.forget(relative);
    return "other";
  }

  private async replaceWithNonDir(relative: string): Promise<void> {
    if (this.clear(relative) === "dir") {
      await fs.rm(path.join(this.root, relative), { recursive: true, force: true });
      this.forget(relative);
    }
  }

  async entry(header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const limit = this.options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (++this.entries > limit) throw tooManyEntries(this.options.what, limit);
    const checked = checkEntry(header, this.options);
    if (checked === null) return;
    const { relative } = checked;
    switch (checked.kind) {
      case "whiteout":
        // Recorded, not applied: still, a whiteout reached through a link would delete through it once applied.
        this.checkParentsNotLinks(checked.victim, relative);
        this.options.listing?.push({ type: "whiteout", path: checked.victim });
        return;
      case "opaque":
        this.checkParentsNotLinks(relative, relative);
        this.options.listing?.push({ type: "opaque", path: checked.victim });
        return;
      case "directory":
        return this.directory(relative);
      case "file":
        return this.file(relative, header, body);
      case "symlink":
        return this.symlink(relative, header.linkname ?? "");
      case "link":
        return this.hardlink(relative, checked.linkTarget);
    }
  }

  private directory(relative: string): void {
    this.ensureParents(relative);
    const full = path.join(this.root, relative);
    if (this.clear(relative) === "dir") chmodSync(full, 0o755);
    else mkdirSync(full, { mode: 0o755 });
    this.verifiedDirs.set(relative, true);
    this.options.listing?.push({ type: "dir", path: relative });
  }

  private async file(relative: string, header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.ensureParents(relative);
    await this.replaceWithNonDir(relative);
    const full = path.join(this.root, relative);
    const mode = (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
    let written: { sha256: string; size: number };
    if ((header.size ?? 0) <= SMALL_FILE_BYTES) {
      // Most files in a venv are small: one buffered write instead of a stream of awaited ones.
      const content = await readBody(body, SMALL_FILE_BYTES, relative);
      writeFileSync(full, content, { flag: "wx", mode });
      written = { sha256: sha256Hex(content), size: content.length };
    } else {
      written = await writeNewFile(body, full, mode);
    }
    chmodSync(full, mode);
    const listed: ListedFile = { type: "file", path: relative, executable: mode === 0o755, ...written };
    this.listedFiles.set(relative, listed);
    this.options.listing?.push(listed);
  }

  private async symlink(relative: string, link: string): Promise<void> {
    this.ensureParents(relative);
    await this.replaceWithNonDir(relative);
    await fs.symlink(link, path.join(this.root, relative));
    this.symlinks.add(relative);
    this.options.listing?.push({ type: "symlink", path: relative, link });
  }

  private async hardlink(relative: string, target: { path: string; link: string }): Promise<void> {
    const link = target.link;
    this.ensureParents(target.path, relative);
    const stat = await fs.lstat(path.join(this.root, target.path)).catch(() => null);
    if (!stat?.isFile()) throw this.fail(relative, `is a hard link to "${link}", which is not a regular file in the archive`);
    this.ensureParents(relative);
    await this.replaceWithNonDir(relative);
    await fs.link(path.join(this.root, target.path), path.join(this.root, relative));
    const original = this.listedFiles.get(target.path);
    if (original) {
      const listed: ListedFile = { ...original, path: relative };
      this.listedFiles.set(relative, listed);
      this.options.listing?.push(listed);
    }
  }

  /** Refuses `relative` when one of its existing parents is a symlink or a file, creating nothing. */
  private checkParentsNotLinks(relative: string, entry: string): void {
    for (const parent of this.verifiedDirs.parents(relative)) {
      if (parent.present) continue;
      const current = parent.path;
      const stat = lstatOrNullSync(path.join(this.root, current));
      if (stat === null) return;
      if (stat.isSymbolicLink()) throw this.fail(entry, `would reach "${relative}" through the symlink "${current}"`);
      if (!stat.isDirectory()) throw this.fail(entry, `needs "${current}" to be a directory, but it is a file`);
    }
  }
}

/**
 * Where a symlink really leads, following the links the tree now holds (as the
 * kernel would): "inside", "escapes", or "trusted" when it reaches a base link
 * to an absolute path (the venv's own `bin/python` -> interpreter). Judging a
 * link on its text alone is not enough: `y -> a/up/../../x` reads as `a/x`,
 * but leaves the tree when `a/up` is a link to `..`.
 */
async function whereLinkLeads(root: string, link: string, madeByArchive: ReadonlySet<string>): Promise<"inside" | "escapes" | "trusted"> {
  const readLink = async (relative: string) => ((await lstatOrNull(path.join(root, relative)))?.isSymbolicLink() ? fs.readlink(path.join(root, relative)) : null);
  return followLink(link, readLink, madeByArchive);
}

/** whereLinkLeads over any tree: `readLink` gives a path's link text, or null when it is no symlink. */
async function followLink(link: string, readLink: (relative: string) => Promise<string | null>, madeByArchive: ReadonlySet<string>): Promise<"inside" | "escapes" | "trusted"> {
  let budget = 40; // the kernel's own limit on links in one lookup
  // `climbsAfter`: a `..` follows in an enclosing walk; past an absolute base link it would leave for the host's tree.
  const walk = async (start: string[], target: string, climbsAfter: boolean): Promise<string[] | "escapes" | "trusted"> => {
    const stack = [...start];
    const parts = target.split("/");
    for (const [index, part] of parts.entries()) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (stack.length === 0) return "escapes";
        stack.pop();
        continue;
      }
      stack.push(part);
      const current = stack.join("/");
      const next = await readLink(current);
      if (next === null) continue;
      if (--budget < 0) return "escapes";
      const climbs = climbsAfter || parts.slice(index + 1).includes("..");
      // A base's own absolute link (bin/python -> the interpreter) is trusted as far as it goes, but
      // `lib64/../x` through one to a directory outside climbs into the host's tree.
      if (path.posix.isAbsolute(next)) return madeByArchive.has(current) || climbs ? "escapes" : "trusted";
      stack.pop();
      const resolved = await walk(stack, next, climbs);
      if (!Array.isArray(resolved)) return resolved;
      stack.splice(0, stack.length, ...resolved);
    }
    return stack;
  };
  const parent = path.posix.dirname(link);
  const text = await readLink(link);
  if (text === null) return "inside";
  const resolved = await walk(parent === "." ? [] : parent.split("/"), text, false);
  if (Array.isArray(resolved)) return resolved.length === 0 ? "escapes" : "inside";
  return resolved;
}

function escapingLinkError(what: string, link: string): PypakrError {
  return new PypakrError(`${what}: the symlink "${link}" leads outside the target (or to the target itself) through other links; refusing it`, {
    code: "unsafe-entry",
    hint: "The archive is damaged or was crafted to point outside its target; get it from a trusted source.",
  });
}

/** Refuses the tree if any symlink an archive made leads outside it, now that every entry is in place. */
export async function checkSymlinks(root: string, symlinks: ReadonlySet<string>, what: string): Promise<void> {
  for (const link of [...symlinks].sort()) {
    const stat = await lstatOrNull(path.join(root, link));
    if (!stat?.isSymbolicLink()) continue;
    if ((await whereLinkLeads(root, link, symlinks)) === "escapes") {
      await fs.unlink(path.join(root, link));
      throw escapingLinkError(what, link);
    }
  }
}

/**
 * Extracts `archive` (tar or tar+gzip) into the existing directory `root`,
 * refusing it if a symlink it made leads outside. Returns those symlinks: a
 * later archive can change where they lead, so once every archive for a tree
 * is extracted, pass them all to checkSymlinks again.
 */
export async function extractTar(archive: string, root: string, options: ExtractOptions): Promise<Set<string>> {
  const extraction = new Extraction(root, options);
  try {
    let actual: string | undefined;
    for await (const { header, body } of readTarFile(archive, options.expectSha256 ? (hex) => (actual = hex) : undefined)) await extraction.entry(header, body);
    if (options.expectSha256 && actual !== options.expectSha256) {
      throw new PypakrError(`${options.what} is damaged (its content hashes to sha256:${actual ?? "?"}, not sha256:${options.expectSha256})`, {
        code: "store-damaged",
        hint: "Run pypakr store verify --repair, then load or build the image again.",
      });
    }
    await checkSymlinks(root, extraction.symlinks, options.what);
    return extraction.symlinks;
  } catch (error) {
    throw archiveError(error, options.what, root);
  }
}

/** A failure while reading `what` as a PypakrError: about the archive, or (for a system call on a path under `root`) about the target. */
function archiveError(error: unknown, what: string, root: string | null): PypakrError {
  if (error instanceof PypakrError) return error;
  if (error instanceof ArchiveTooLargeError) {
    return new PypakrError(`${what} ${error.message}; refusing it`, { code: "too-large", hint: "The archive is damaged or was crafted to exhaust the disk; get it from a trusted source." });
  }
  const failure = error as NodeJS.ErrnoException;
  // A system call failing on a path in the target (disk full, permissions) is about the target, not the archive.
  if (root !== null && failure.path && (failure.path === root || failure.path.startsWith(`${root}${path.sep}`))) {
    return new PypakrError(`cannot extract ${what} into ${root}: ${failure.message}`, { code: "write-failed", hint: "Check free space and permissions there, then try again." });
  }
  return new PypakrError(`${what} is not a readable tar archive: ${failure.message}`, {
    code: "archive-invalid",
    hint: "The file is damaged or not a tar (.tar or .tar.gz); make or fetch it again.",
  });
}

/**
 * Reads a layer without writing anything and refuses it if extractTar would
 * refuse it alone: every entry's own checks (checkEntry), plus what the
 * archive's earlier entries decide, such as a write or a hard link through a
 * symlink it made, or a hard link to a file it does not hold. Run when an
 * image enters the store (load, create-container -i FILE, pull), so a layer
 * that can never be extracted is refused before the store keeps it.
 */
export async function checkLayerArchive(archive: string, options: { what: string; reserved?: ReadonlySet<string>; maxEntries?: number }): Promise<void> {
  const checkOptions = { ...options, whiteouts: "record" as const };
  const fail = (entry: string, problem: string) => entryError(options.what, entry, problem);
  const limit = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  /** What this archive put at each path so far (parents it implies are directories), and its symlinks' text. */
  const kinds = new PathMap<"dir" | "file" | "symlink">();
  const links = new PathMap<string>();
  const reachable = (relative: string, entry: string) => {
    for (const parent of kinds.parents(relative)) {
      if (parent.value === "symlink") throw fail(entry, `would reach "${relative}" through the symlink "${parent.path}"`);
      if (parent.value === "file") throw fail(entry, `needs "${parent.path}" to be a directory, but it is a file`);
      if (!parent.present) kinds.set(parent.path, "dir");
    }
  };
  const place = (relative: string, kind: "dir" | "file" | "symlink", link?: string) => {
    if (kind !== "dir" && kinds.get(relative) === "dir") {
      kinds.deleteTree(relative);
      links.deleteTree(relative);
    }
    kinds.set(relative, kind);
    if (link === undefined) links.deleteTree(relative);
    else links.set(relative, link);
  };
  let entries = 0;
  try {
    for await (const { header } of readTarFile(archive)) {
      if (++entries > limit) throw tooManyEntries(options.what, limit);
      const checked = checkEntry(header, checkOptions);
      if (checked === null) continue;
      const { relative } = checked;
      reachable(checked.kind === "whiteout" ? checked.victim : relative, relative);
      switch (checked.kind) {
        case "directory":
          place(relative, "dir");
          break;
        case "file":
          place(relative, "file");
          break;
        case "symlink":
          place(relative, "symlink", header.linkname ?? "");
          break;
        case "link":
          reachable(checked.linkTarget.path, relative);
          if (kinds.get(checked.linkTarget.path) !== "file") throw fail(relative, `is a hard link to "${checked.linkTarget.link}", which is not a regular file in the archive`);
          place(relative, "file");
          break;
        default:
          break;
      }
    }
    // As checkSymlinks does once the layer is unpacked alone: links that escape through other links.
    const all = [...links.entries()];
    const made = new Set(all.map(([link]) => link));
    const readLink = (relative: string) => Promise.resolve(links.get(relative) ?? null);
    for (const [link] of all) if ((await followLink(link, readLink, made)) === "escapes") throw escapingLinkError(options.what, link);
  } catch (error) {
    throw archiveError(error, options.what, null);
  }
}
