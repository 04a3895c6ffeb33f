/**
 * Extracting an untrusted tar (an image layer or a source archive): one
 * state machine over a tree (tree.ts). On disk it unpacks; in memory it is
 * the load-time check, so a layer the store keeps is one that extraction
 * will not refuse. Every entry is checked before anything is written:
 *
 * - its header, alone (entry-rules.ts, whiteouts.ts);
 * - nothing is written through a symlink: each parent directory is checked,
 *   and an existing entry is removed, never opened, before its replacement
 *   is created;
 * - hard links must name a regular file already inside the tree;
 * - modes are reduced to 0644/0755, so no setuid, setgid or sticky bits;
 * - at most `maxEntries` entries, and work linear in them;
 * - once all is in place, no symlink it made leads outside through others
 *   (symlinks.ts).
 */
import * as path from "node:path";
import { PypakrError } from "../../util/errors.js";
import { ancestors, PathMap } from "../../util/path-map.js";
import { ArchiveTooLargeError, readTarFile, type TarHeader } from "../../util/tar.js";
import { checkEntry, DEFAULT_MAX_ENTRIES, entryError, tooManyEntries, type EntryRules } from "./entry-rules.js";
import { escapingLinkError, whereLinkLeads } from "./symlinks.js";
import { DiskTree, MemoryTree, type ExtractTree } from "./tree.js";
import type { WhiteoutEntry } from "./whiteouts.js";

export interface ExtractOptions extends EntryRules {
  /** Filled with every entry as unpacked, file hashes included; whiteouts and opaque markers too. */
  listing?: ListedEntry[];
  /** The archive file's expected sha256 (hex), checked while it is read: a mismatch fails the extraction. */
  expectSha256?: string;
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

class Extraction {
  /** Directories known to be real directories inside the tree (the root is implied). */
  private readonly verifiedDirs = new PathMap<true>();
  /** The last file listed at each path, for hard links to copy. */
  private readonly listedFiles = new Map<string, ListedFile>();
  private entries = 0;
  /** Symlinks this archive made; they are checked again once the whole tree is there. */
  readonly symlinks = new Set<string>();
  /** What this archive put in place: an applied whiteout deletes only what earlier archives left. */
  private readonly placed = new PathMap<true>();

  constructor(
    private readonly tree: ExtractTree,
    private readonly options: ExtractOptions,
  ) {}

  fail(entry: string, problem: string): PypakrError {
    return entryError(this.options.what, entry, problem);
  }

  /**
   * Makes sure every parent of `relative` is a real directory inside the
   * tree: with `create`, making missing ones; without, stopping at the first
   * missing one, creating nothing. `entry` is the archive entry being
   * applied, for the error message.
   */
  private reachParents(relative: string, entry: string, create: boolean): void {
    for (const parent of this.verifiedDirs.parents(relative)) {
      if (parent.present) continue;
      const current = parent.path;
      const kind = this.tree.kind(current);
      if (kind === null) {
        if (!create) return;
        this.tree.mkdir(current);
      } else if (kind === "symlink") throw this.fail(entry, `would reach "${relative}" through the symlink "${current}"`);
      else if (kind !== "dir") throw this.fail(entry, `needs "${current}" to be a directory, but it is a file`);
      if (create) this.verifiedDirs.set(current, true);
    }
  }

  /** Removes whatever is at `relative` but a directory (a link itself, never what it points to). */
  private clear(relative: string): "dir" | "cleared" {
    const kind = this.tree.kind(relative);
    if (kind === "dir") return "dir";
    if (kind !== null) {
      this.tree.unlink(relative);
      this.verifiedDirs.deleteTree(relative);
    }
    return "cleared";
  }

  private async replaceWithNonDir(relative: string): Promise<void> {
    if (this.clear(relative) === "dir") {
      await this.tree.removeDir(relative);
      this.verifiedDirs.deleteTree(relative);
    }
  }

  async entry(header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const limit = this.options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (++this.entries > limit) throw tooManyEntries(this.options.what, limit);
    const checked = checkEntry(header, this.options);
    if (checked === null) return;
    const { relative } = checked;
    if (checked.kind !== "whiteout" && checked.kind !== "opaque") this.placed.set(relative, true);
    if (this.options.whiteouts === "apply" && (checked.kind === "whiteout" || checked.kind === "opaque")) return this.applyWhiteout(checked);
    switch (checked.kind) {
      case "whiteout":
        // Recorded, not applied: still, a whiteout reached through a link would delete through it once applied.
        this.reachParents(checked.victim, relative, false);
        this.options.listing?.push({ type: "whiteout", path: checked.victim });
        return;
      case "opaque":
        this.reachParents(relative, relative, false);
        this.options.listing?.push({ type: "opaque", path: checked.victim });
        return;
      case "directory":
        return this.directory(relative);
      case "file":
        return this.file(relative, header, body);
      case "symlink":
        return this.symlink(relative, checked.link);
      case "link":
        return this.hardlink(relative, checked.linkTarget);
    }
  }

  /**
   * Deletes what a whiteout names, or what an opaque directory holds, as
   * earlier archives left it (the OCI rule: a layer's whiteouts hide lower
   * layers only, whatever order its entries come in). Never through a link:
   * a victim whose parents are not real directories is not there to delete.
   */
  private async applyWhiteout(entry: WhiteoutEntry): Promise<void> {
    this.reachParents(entry.victim, entry.relative, false);
    if (ancestors(entry.victim).some((parent) => this.tree.kind(parent) !== "dir")) return;
    const kind = this.tree.kind(entry.victim);
    if (kind === null) return;
    if (entry.kind === "whiteout") {
      if (this.placed.get(entry.victim)) return;
      if (kind === "dir") await this.tree.removeDir(entry.victim);
      else this.tree.unlink(entry.victim);
      this.verifiedDirs.deleteTree(entry.victim);
      return;
    }
    if (kind !== "dir") return;
    for (const child of this.tree.children(entry.victim)) {
      const relative = `${entry.victim}/${child}`;
      if (this.placed.get(relative)) continue;
      if (this.tree.kind(relative) === "dir") await this.tree.removeDir(relative);
      else this.tree.unlink(relative);
      this.verifiedDirs.deleteTree(relative);
    }
  }

  private directory(relative: string): void {
    this.reachParents(relative, relative, true);
    if (this.clear(relative) === "dir") this.tree.keepDir(relative);
    else this.tree.mkdir(relative);
    this.verifiedDirs.set(relative, true);
    this.options.listing?.push({ type: "dir", path: relative });
  }

  private async file(relative: string, header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.reachParents(relative, relative, true);
    await this.replaceWithNonDir(relative);
    const executable = ((header.mode ?? 0o644) & 0o111) !== 0;
    const content = await this.tree.writeFile(relative, header.size ?? 0, body, executable);
    if (content === undefined || this.options.listing === undefined) return;
    const listed: ListedFile = { type: "file", path: relative, executable, ...content };
    this.listedFiles.set(relative, listed);
    this.options.listing.push(listed);
  }

  private async symlink(relative: string, link: string): Promise<void> {
    this.reachParents(relative, relative, true);
    await this.replaceWithNonDir(relative);
    await this.tree.symlink(relative, link);
    this.symlinks.add(relative);
    this.options.listing?.push({ type: "symlink", path: relative, link });
  }

  private async hardlink(relative: string, target: { path: string; link: string }): Promise<void> {
    this.reachParents(target.path, relative, true);
    if (this.tree.kind(target.path) !== "file") throw this.fail(relative, `is a hard link to "${target.link}", which is not a regular file in the archive`);
    this.reachParents(relative, relative, true);
    await this.replaceWithNonDir(relative);
    await this.tree.link(target.path, relative);
    const original = this.listedFiles.get(target.path);
    if (original) {
      const listed: ListedFile = { ...original, path: relative };
      this.listedFiles.set(relative, listed);
      this.options.listing?.push(listed);
    }
  }
}

/**
 * Refuses the tree if any of `symlinks` (made by archives) leads outside
 * it, now that every entry is in place; an escaping link is removed first.
 */
async function checkTreeSymlinks(tree: ExtractTree, symlinks: ReadonlySet<string>, what: string): Promise<void> {
  const readLink = (relative: string) => tree.readLink(relative);
  for (const link of [...symlinks].sort()) {
    if (tree.kind(link) !== "symlink") continue;
    if ((await whereLinkLeads(link, readLink, symlinks)) === "escapes") {
      tree.unlink(link);
      throw escapingLinkError(what, link);
    }
  }
}

/** Refuses the directory `root` if any symlink an archive made leads outside it (see checkTreeSymlinks). */
export async function checkSymlinks(root: string, symlinks: ReadonlySet<string>, what: string): Promise<void> {
  await checkTreeSymlinks(new DiskTree(root), symlinks, what);
}

/** Runs `archive` (tar, tar+gzip or tar+zstd) through the extractor into `tree`, ending with the check of its symlinks. */
async function extractInto(archive: string, tree: ExtractTree, options: ExtractOptions): Promise<void> {
  const extraction = new Extraction(tree, options);
  try {
    let actual: string | undefined;
    for await (const { header, body } of readTarFile(archive, options.expectSha256 ? (hex) => (actual = hex) : undefined)) await extraction.entry(header, body);
    if (options.expectSha256 && actual !== options.expectSha256) {
      throw new PypakrError(`${options.what} is damaged (its content hashes to sha256:${actual ?? "?"}, not sha256:${options.expectSha256})`, {
        code: "store-damaged",
        hint: "Run pypakr store verify --repair, then load or build the image again.",
      });
    }
    // A root filesystem's links are followed only inside a sandbox that has it as its `/` (see EntryRules.rootfs).
    if (!options.rootfs) await checkTreeSymlinks(tree, extraction.symlinks, options.what);
  } catch (error) {
    throw archiveError(error, options.what, tree.root);
  }
}

/**
 * Extracts `archive` (tar, tar+gzip or tar+zstd) into the existing directory `root`,
 * refusing it if a symlink it made leads outside. A later archive can
 * change where those links lead: once every archive for a tree is in
 * place, check all their links again with checkSymlinks. `freshRoot`: the
 * caller just made `root`, empty and private, so what is there is known
 * without asking the disk.
 */
export async function extractTar(archive: string, root: string, options: ExtractOptions & { freshRoot?: boolean }): Promise<void> {
  await extractInto(archive, new DiskTree(root, { fresh: options.freshRoot === true }), options);
}

/**
 * Refuses a layer that extractTar would refuse alone, writing nothing: the
 * same extraction into a tree of names only. Run when an image enters the
 * store (load, create-container -i FILE, pull), so a layer that can never
 * be extracted is refused before the store keeps it.
 */
export async function checkLayerArchive(archive: string, options: { what: string; reserved?: ReadonlySet<string>; maxEntries?: number }): Promise<void> {
  await extractInto(archive, new MemoryTree(), { ...options, whiteouts: "record" });
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
