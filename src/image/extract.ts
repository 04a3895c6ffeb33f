/**
 * Extracting an untrusted tar (an image layer or a source archive) into a
 * directory. Every entry is checked before anything is written:
 *
 * - names: relative, no `..`, no NUL (PEP 706's `data` filter rules);
 * - nothing is written through a symlink: each parent directory is checked
 *   with lstat, and an existing entry is unlinked, never opened, before its
 *   replacement is created exclusively;
 * - symlinks must stay inside the tree (judged on their text, and since no
 *   write ever follows a link, a chain cannot be used to escape);
 * - hard links must name a regular file already inside the tree;
 * - no devices, fifos or other special files; modes are reduced to 0644/0755,
 *   so no setuid, setgid or sticky bits.
 *
 * For layers, OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) delete what lower
 * layers put there, and files listed for relocation have the placeholder
 * replaced by the container's path.
 */
import { chmodSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { PypakrError } from "../util/errors.js";
import { lstatOrNull, lstatOrNullSync, writeNewFile } from "../util/fs.js";
import { sha256Hex } from "../util/hash.js";
import { ArchiveTooLargeError, normalizeEntryName, readBody, readTarFile, type TarHeader } from "../util/tar.js";
import type { RelocationKind } from "./format.js";
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from "./layer-writer.js";
import { relocateContent, RelocationError } from "./relocation.js";

export interface ExtractOptions {
  /** Names the archive in error messages. */
  what: string;
  /**
   * OCI whiteouts: "apply" them to the tree (a layer over lower layers),
   * "record" them in `listing` (a layer unpacked alone, for the store's
   * cache), or "refuse" `.wh.` names (a source, where one would mean a
   * deletion in the image).
   */
  whiteouts: "apply" | "record" | "refuse";
  /** Filled with every entry as applied, file hashes included (required with whiteouts: "record"). */
  listing?: ListedEntry[];
  /** The archive file's expected sha256 (hex), checked while it is read: a mismatch fails the extraction. */
  expectSha256?: string;
  /** Top-level names the archive may not touch (pypakr's own metadata). */
  reserved?: ReadonlySet<string>;
  relocation?: { files: ReadonlyMap<string, RelocationKind>; from: string; to: string };
}

/** An entry as unpacked, in archive order; whiteouts and opaque markers only when recorded. */
export type ListedEntry =
  | { type: "dir"; path: string }
  | { type: "file"; path: string; executable: boolean; size: number; sha256: string; mtimeMs?: number }
  | { type: "symlink"; path: string; link: string }
  | { type: "whiteout"; path: string }
  | { type: "opaque"; path: string };

/** Files up to this size are read whole and written with one call. */
const SMALL_FILE_BYTES = 1024 * 1024;

/** Relocated files are rewritten in memory; beyond this an image is not a venv pypakr can trust. */
const MAX_RELOCATED_FILE_BYTES = 256 * 1024 * 1024;

function entryError(what: string, entry: string, problem: string): PypakrError {
  return new PypakrError(`${what}: entry "${entry}" ${problem}; refusing to extract it`, {
    hint: "The archive is damaged or was crafted to write outside its target; get it from a trusted source.",
  });
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
  const parts = relative.split("/");
  const top = parts[0] ?? "";
  if (isReserved(options, top)) throw fail(relative, `writes into "${top}", which is pypakr's own`);
  // A directory named like a whiteout is no whiteout, but in an image it reads as one: `.wh.x/f` would be
  // refused (or misread) when the image is extracted, so neither a source nor a layer may hold one.
  if (parts.slice(0, -1).some((part) => part.startsWith(WHITEOUT_PREFIX))) throw fail(relative, "is inside a directory named like an OCI whiteout (.wh.*)");
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
    if (dir === "" && isReserved(options, victimName)) throw fail(relative, `is a whiteout of "${victimName}", which is pypakr's own`);
    return { kind: "whiteout", relative, victim: dir ? `${dir}/${victimName}` : victimName };
  }
  switch (header.type) {
    case "directory":
      return { kind: "directory", relative };
    case "file":
    case "contiguous-file":
      return { kind: "file", relative };
    case "symlink": {
      const link = header.linkname ?? "";
      if (link === "" || link.includes("\0")) throw fail(relative, "is a symlink with an empty or NUL-holding target");
      if (path.posix.isAbsolute(link)) throw fail(relative, `is a symlink to the absolute path "${link}"`);
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(relative), link));
      if (resolved === ".." || resolved.startsWith("../")) throw fail(relative, `is a symlink to "${link}", outside the target`);
      if (resolved === "." || resolved === relative) throw fail(relative, `is a symlink to "${link}", which resolves to ${resolved === "." ? "the target itself" : "itself"}`);
      return { kind: "symlink", relative };
    }
    case "link": {
      const link = header.linkname ?? "";
      const target = normalizeEntryName(link);
      if ("error" in target || target.path === "") throw fail(relative, `is a hard link to "${link}", which ${"error" in target ? target.error : "is the target itself"}`);
      // Linking a name to itself or to a file below it would first remove the very file it links to.
      if (target.path === relative || target.path.startsWith(`${relative}/`)) throw fail(relative, `is a hard link to "${link}", which is ${target.path === relative ? "itself" : "below itself"}`);
      const linkTop = target.path.split("/")[0] ?? "";
      if (isReserved(options, linkTop)) throw fail(relative, `is a hard link into "${linkTop}", which is pypakr's own`);
      return { kind: "link", relative, linkTarget: { path: target.path, link } };
    }
    default:
      throw fail(relative, `is a ${header.type ?? "special file"}, which a venv never needs`);
  }
}

function isReserved(options: Pick<ExtractOptions, "reserved">, top: string): boolean {
  return options.reserved?.has(top) ?? false;
}

class Extraction {
  private readonly verifiedDirs = new Set<string>([""]);
  /** Paths this archive wrote, and the directories above them (an opaque whiteout keeps both). */
  private readonly writtenHere = new Set<string>();
  private readonly aboveWritten = new Set<string>();
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
    for (const dir of this.verifiedDirs) if (dir === relative || dir.startsWith(`${relative}/`)) this.verifiedDirs.delete(dir);
  }

  private markWritten(relative: string): void {
    this.writtenHere.add(relative);
    const parts = relative.split("/");
    for (let end = 1; end < parts.length; end++) this.aboveWritten.add(parts.slice(0, end).join("/"));
  }

  /**
   * Makes sure every parent of `relative` is a real directory inside the
   * tree, creating missing ones. `entry` is the archive entry being applied,
   * for the error message.
   */
  private ensureParents(relative: string, entry = relative): void {
    const parts = relative.split("/").slice(0, -1);
    let current = "";
    for (const part of parts) {
      current = current ? `${current}/${part}` : part;
      if (this.verifiedDirs.has(current)) continue;
      const full = path.join(this.root, current);
      const stat = lstatOrNullSync(full);
      if (stat === null) mkdirSync(full, { mode: 0o755 });
      else if (stat.isSymbolicLink()) throw this.fail(entry, `would reach "${relative}" through the symlink "${current}"`);
      else if (!stat.isDirectory()) throw this.fail(entry, `needs "${current}" to be a directory, but it is a file`);
      this.verifiedDirs.add(current);
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
    const checked = checkEntry(header, this.options);
    if (checked === null) return;
    const { relative } = checked;
    switch (checked.kind) {
      case "whiteout":
        return this.whiteout(relative, checked.victim);
      case "opaque":
        return this.opaqueMarker(relative, checked.victim);
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
    this.verifiedDirs.add(relative);
    this.markWritten(relative);
    this.options.listing?.push({ type: "dir", path: relative });
  }

  private async file(relative: string, header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.ensureParents(relative);
    await this.replaceWithNonDir(relative);
    const full = path.join(this.root, relative);
    const mode = (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
    const kind = this.options.relocation?.files.get(relative);
    let written: { sha256: string; size: number };
    if (kind && this.options.relocation) {
      const { from, to } = this.options.relocation;
      let content = await readBody(body, MAX_RELOCATED_FILE_BYTES, relative);
      try {
        content = relocateContent(content, kind, from, to);
      } catch (error) {
        if (!(error instanceof RelocationError)) throw error;
        throw new PypakrError(`cannot relocate ${relative} to ${to}: ${error.message}`, {
          hint: `Choose a container path of at most ${Buffer.byteLength(from)} bytes.`,
        });
      }
      writeFileSync(full, content, { flag: "wx", mode });
      written = { sha256: sha256Hex(content), size: content.length };
    } else if ((header.size ?? 0) <= SMALL_FILE_BYTES) {
      // Most files in a venv are small: one buffered write instead of a stream of awaited ones.
      const content = await readBody(body, SMALL_FILE_BYTES, relative);
      writeFileSync(full, content, { flag: "wx", mode });
      written = { sha256: sha256Hex(content), size: content.length };
    } else {
      written = await writeNewFile(body, full, mode);
    }
    chmodSync(full, mode);
    this.markWritten(relative);
    this.options.listing?.push({ type: "file", path: relative, executable: mode === 0o755, ...written });
  }

  private async symlink(relative: string, link: string): Promise<void> {
    this.ensureParents(relative);
    await this.replaceWithNonDir(relative);
    await fs.symlink(link, path.join(this.root, relative));
    this.symlinks.add(relative);
    this.markWritten(relative);
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
    this.markWritten(relative);
    const original = this.options.listing?.findLast((entry) => entry.path === target.path);
    if (original?.type === "file") this.options.listing?.push({ ...original, path: relative });
  }

  private async whiteout(relative: string, victim: string): Promise<void> {
    if (this.options.whiteouts === "record") {
      // Recorded, not applied: still, a whiteout reached through a link would delete through it once applied.
      this.checkParentsNotLinks(victim, relative);
      this.options.listing?.push({ type: "whiteout", path: victim });
      return;
    }
    this.ensureParents(victim, relative);
    await fs.rm(path.join(this.root, victim), { recursive: true, force: true });
    this.forget(victim);
  }

  private async opaqueMarker(relative: string, dir: string): Promise<void> {
    if (this.options.whiteouts === "record") {
      this.checkParentsNotLinks(relative, relative);
      this.options.listing?.push({ type: "opaque", path: dir });
      return;
    }
    return this.opaque(dir);
  }

  /** Refuses `relative` when one of its existing parents is a symlink or a file, creating nothing. */
  private checkParentsNotLinks(relative: string, entry: string): void {
    const parts = relative.split("/").slice(0, -1);
    for (let end = 1; end <= parts.length; end++) {
      const current = parts.slice(0, end).join("/");
      if (this.verifiedDirs.has(current)) continue;
      const stat = lstatOrNullSync(path.join(this.root, current));
      if (stat === null) return;
      if (stat.isSymbolicLink()) throw this.fail(entry, `would reach "${relative}" through the symlink "${current}"`);
      if (!stat.isDirectory()) throw this.fail(entry, `needs "${current}" to be a directory, but it is a file`);
    }
  }

  /**
   * An opaque directory hides everything lower layers put in it, at any depth,
   * whatever order this layer's entries come in: what this layer wrote under
   * it (and the directories leading there) stays, the rest goes.
   */
  private async opaque(dir: string): Promise<void> {
    this.ensureParents(`${dir}/${OPAQUE_WHITEOUT}`);
    const stat = await lstatOrNull(path.join(this.root, dir));
    if (stat?.isDirectory()) await this.hideLower(dir);
  }

  private async hideLower(dir: string): Promise<void> {
    for (const child of await fs.readdir(path.join(this.root, dir))) {
      const relative = `${dir}/${child}`;
      const full = path.join(this.root, relative);
      // lstat first: a directory this layer wrote into may since have been replaced by a symlink (also
      // written here), and descending into that would delete through the link.
      const isDir = (await fs.lstat(full)).isDirectory();
      if (this.aboveWritten.has(relative) && isDir) {
        await this.hideLower(relative);
      } else if (!this.writtenHere.has(relative)) {
        await fs.rm(full, { recursive: true, force: true });
        this.forget(relative);
      } else if (isDir) {
        await this.hideLower(relative);
      }
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
  const walk = async (start: string[], target: string): Promise<string[] | "escapes" | "trusted"> => {
    const stack = [...start];
    for (const part of target.split("/")) {
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
      if (path.posix.isAbsolute(next)) return madeByArchive.has(current) ? "escapes" : "trusted";
      stack.pop();
      const resolved = await walk(stack, next);
      if (!Array.isArray(resolved)) return resolved;
      stack.splice(0, stack.length, ...resolved);
    }
    return stack;
  };
  const parent = path.posix.dirname(link);
  const text = await readLink(link);
  if (text === null) return "inside";
  const resolved = await walk(parent === "." ? [] : parent.split("/"), text);
  if (Array.isArray(resolved)) return resolved.length === 0 ? "escapes" : "inside";
  return resolved;
}

function escapingLinkError(what: string, link: string): PypakrError {
  return new PypakrError(`${what}: the symlink "${link}" leads outside the target (or to the target itself) through other links; refusing it`, {
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
    return new PypakrError(`${what} ${error.message}; refusing it`, { hint: "The archive is damaged or was crafted to exhaust the disk; get it from a trusted source." });
  }
  const failure = error as NodeJS.ErrnoException;
  // A system call failing on a path in the target (disk full, permissions) is about the target, not the archive.
  if (root !== null && failure.path && (failure.path === root || failure.path.startsWith(`${root}${path.sep}`))) {
    return new PypakrError(`cannot extract ${what} into ${root}: ${failure.message}`, { hint: "Check free space and permissions there, then try again." });
  }
  return new PypakrError(`${what} is not a readable tar archive: ${failure.message}`, {
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
export async function checkLayerArchive(archive: string, options: { what: string; reserved?: ReadonlySet<string> }): Promise<void> {
  const checkOptions = { ...options, whiteouts: "record" as const };
  const fail = (entry: string, problem: string) => entryError(options.what, entry, problem);
  /** What this archive put at each path so far (parents it implies are directories), and its symlinks' text. */
  const kinds = new Map<string, "dir" | "file" | "symlink">();
  const links = new Map<string, string>();
  const reachable = (relative: string, entry: string) => {
    const parts = relative.split("/");
    for (let end = 1; end < parts.length; end++) {
      const current = parts.slice(0, end).join("/");
      const kind = kinds.get(current);
      if (kind === "symlink") throw fail(entry, `would reach "${relative}" through the symlink "${current}"`);
      if (kind === "file") throw fail(entry, `needs "${current}" to be a directory, but it is a file`);
      kinds.set(current, "dir");
    }
  };
  const place = (relative: string, kind: "dir" | "file" | "symlink", link?: string) => {
    if (kind !== "dir" && kinds.get(relative) === "dir") {
      for (const key of kinds.keys()) if (key.startsWith(`${relative}/`)) kinds.delete(key);
      for (const key of links.keys()) if (key.startsWith(`${relative}/`)) links.delete(key);
    }
    kinds.set(relative, kind);
    if (link === undefined) links.delete(relative);
    else links.set(relative, link);
  };
  try {
    for await (const { header } of readTarFile(archive)) {
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
    const made = new Set(links.keys());
    const readLink = (relative: string) => Promise.resolve(links.get(relative) ?? null);
    for (const link of [...links.keys()].sort()) if ((await followLink(link, readLink, made)) === "escapes") throw escapingLinkError(options.what, link);
  } catch (error) {
    throw archiveError(error, options.what, null);
  }
}
