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
import { normalizeEntryName, readBody, readTarFile, type TarHeader } from "../util/tar.js";
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
    return new PypakrError(`${this.options.what}: entry "${entry}" ${problem}; refusing to extract it`, {
      hint: "The archive is damaged or was crafted to write outside its target; get it from a trusted source.",
    });
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
    const name = normalizeEntryName(header.name);
    if ("error" in name) throw this.fail(header.name, name.error);
    const relative = name.path;
    if (relative === "") {
      if (header.type === "directory") return;
      throw this.fail(header.name, "names the target directory itself");
    }
    const top = relative.split("/")[0] ?? "";
    if (this.options.reserved?.has(top)) throw this.fail(relative, `writes into "${top}", which is pypakr's own`);
    const base = path.posix.basename(relative);
    if (base.startsWith(WHITEOUT_PREFIX)) return this.whiteout(relative, header);

    switch (header.type) {
      case "directory":
        return this.directory(relative);
      case "file":
      case "contiguous-file":
        return this.file(relative, header, body);
      case "symlink":
        return this.symlink(relative, header.linkname ?? "");
      case "link":
        return this.hardlink(relative, header.linkname ?? "");
      default:
        throw this.fail(relative, `is a ${header.type ?? "special file"}, which a venv never needs`);
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
    if (link === "" || link.includes("\0")) throw this.fail(relative, "is a symlink with an empty or NUL-holding target");
    if (path.posix.isAbsolute(link)) throw this.fail(relative, `is a symlink to the absolute path "${link}"`);
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(relative), link));
    if (resolved === ".." || resolved.startsWith("../")) throw this.fail(relative, `is a symlink to "${link}", outside the target`);
    if (resolved === "." || resolved === relative) throw this.fail(relative, `is a symlink to "${link}", which resolves to ${resolved === "." ? "the target itself" : "itself"}`);
    this.ensureParents(relative);
    await this.replaceWithNonDir(relative);
    await fs.symlink(link, path.join(this.root, relative));
    this.symlinks.add(relative);
    this.markWritten(relative);
    this.options.listing?.push({ type: "symlink", path: relative, link });
  }

  private async hardlink(relative: string, link: string): Promise<void> {
    const target = normalizeEntryName(link);
    if ("error" in target || target.path === "") throw this.fail(relative, `is a hard link to "${link}", which ${"error" in target ? target.error : "is the target itself"}`);
    const top = target.path.split("/")[0] ?? "";
    if (this.options.reserved?.has(top)) throw this.fail(relative, `is a hard link into "${top}", which is pypakr's own`);
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

  private async whiteout(relative: string, header: TarHeader): Promise<void> {
    if (this.options.whiteouts === "refuse") throw this.fail(relative, "is named like an OCI whiteout (.wh.*), which would delete files in an image; rename it");
    if (header.type !== "file" || (header.size ?? 0) !== 0) throw this.fail(relative, "is a whiteout that is not an empty regular file");
    const dir = path.posix.dirname(relative) === "." ? "" : path.posix.dirname(relative);
    const base = path.posix.basename(relative);
    if (base === OPAQUE_WHITEOUT && this.options.whiteouts === "record") {
      if (dir === "") throw this.fail(relative, "makes the whole tree opaque");
      this.options.listing?.push({ type: "opaque", path: dir });
      return;
    }
    if (base === OPAQUE_WHITEOUT) return this.opaque(dir);
    const victimName = base.slice(WHITEOUT_PREFIX.length);
    if (victimName === "" || victimName === "." || victimName === ".." || victimName.startsWith(WHITEOUT_PREFIX)) {
      throw this.fail(relative, "is a whiteout that names no file");
    }
    const victim = dir ? `${dir}/${victimName}` : victimName;
    if (this.options.whiteouts === "record") {
      this.options.listing?.push({ type: "whiteout", path: victim });
      return;
    }
    this.ensureParents(victim, relative);
    await fs.rm(path.join(this.root, victim), { recursive: true, force: true });
    this.forget(victim);
  }

  /**
   * An opaque directory hides everything lower layers put in it, at any depth,
   * whatever order this layer's entries come in: what this layer wrote under
   * it (and the directories leading there) stays, the rest goes.
   */
  private async opaque(dir: string): Promise<void> {
    if (dir === "") throw this.fail(OPAQUE_WHITEOUT, "makes the whole tree opaque");
    this.ensureParents(`${dir}/${OPAQUE_WHITEOUT}`);
    const stat = await lstatOrNull(path.join(this.root, dir));
    if (stat?.isDirectory()) await this.hideLower(dir);
  }

  private async hideLower(dir: string): Promise<void> {
    for (const child of await fs.readdir(path.join(this.root, dir))) {
      const relative = `${dir}/${child}`;
      const full = path.join(this.root, relative);
      if (this.aboveWritten.has(relative)) {
        await this.hideLower(relative);
      } else if (!this.writtenHere.has(relative)) {
        await fs.rm(full, { recursive: true, force: true });
        this.forget(relative);
      } else if ((await fs.lstat(full)).isDirectory()) {
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
      const stat = await lstatOrNull(path.join(root, current));
      if (!stat?.isSymbolicLink()) continue;
      if (--budget < 0) return "escapes";
      const next = await fs.readlink(path.join(root, current));
      if (path.posix.isAbsolute(next)) return madeByArchive.has(current) ? "escapes" : "trusted";
      stack.pop();
      const resolved = await walk(stack, next);
      if (!Array.isArray(resolved)) return resolved;
      stack.splice(0, stack.length, ...resolved);
    }
    return stack;
  };
  const parent = path.posix.dirname(link);
  const resolved = await walk(parent === "." ? [] : parent.split("/"), await fs.readlink(path.join(root, link)));
  if (Array.isArray(resolved)) return resolved.length === 0 ? "escapes" : "inside";
  return resolved;
}

/** Refuses the tree if any symlink an archive made leads outside it, now that every entry is in place. */
export async function checkSymlinks(root: string, symlinks: ReadonlySet<string>, what: string): Promise<void> {
  for (const link of [...symlinks].sort()) {
    const stat = await lstatOrNull(path.join(root, link));
    if (!stat?.isSymbolicLink()) continue;
    if ((await whereLinkLeads(root, link, symlinks)) === "escapes") {
      await fs.unlink(path.join(root, link));
      throw new PypakrError(`${what}: the symlink "${link}" leads outside the target (or to the target itself) through other links; refusing it`, {
        hint: "The archive is damaged or was crafted to point outside its target; get it from a trusted source.",
      });
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
    if (error instanceof PypakrError) throw error;
    const failure = error as NodeJS.ErrnoException;
    // A system call failing on a path in the target (disk full, permissions) is about the target, not the archive.
    if (failure.path && (failure.path === root || failure.path.startsWith(`${root}${path.sep}`))) {
      throw new PypakrError(`cannot extract ${options.what} into ${root}: ${failure.message}`, { hint: "Check free space and permissions there, then try again." });
    }
    throw new PypakrError(`${options.what} is not a readable tar archive: ${failure.message}`, {
      hint: "The file is damaged or not a tar (.tar or .tar.gz); make or fetch it again.",
    });
  }
}
