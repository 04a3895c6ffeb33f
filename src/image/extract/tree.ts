/**
 * Where an extraction writes: the tree interface the one extractor
 * (extract.ts) runs over. DiskTree writes into a real directory, never
 * through a symlink (the extractor checks every parent first, and an
 * existing entry is unlinked, never opened, before its replacement is
 * created exclusively). MemoryTree keeps only what is at each path, so
 * checking an archive is extracting it without writing a byte.
 */
import { chmodSync, mkdirSync, readdirSync, unlinkSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { lstatOrNull, lstatOrNullSync, writeNewFile } from "../../util/fs.js";
import { sha256Hex } from "../../util/hash.js";
import { PathMap } from "../../util/path-map.js";
import { readBody } from "../../util/tar.js";

/** What is at a path, not following a final symlink ("other": anything else, such as a fifo someone put there). */
export type NodeKind = "dir" | "file" | "symlink" | "other";

/** A written file's content, as a listing records it. */
export interface FileContent {
  sha256: string;
  size: number;
}

export interface ExtractTree {
  /** The directory written into (for telling a failure of the target from one of the archive), or null when none. */
  readonly root: string | null;
  kind(relative: string): NodeKind | null;
  /** Makes a directory where nothing is. */
  mkdir(relative: string): void;
  /** Keeps the directory already at `relative`, with a directory's mode. */
  keepDir(relative: string): void;
  /** Removes what is at `relative`, which is no directory (a link itself, never what it points to). */
  unlink(relative: string): void;
  /** Removes the directory at `relative` with all it holds. */
  removeDir(relative: string): Promise<void>;
  /** Writes a new file where nothing is; its content, or undefined when the tree keeps none. */
  writeFile(relative: string, size: number, body: AsyncIterable<Buffer>, executable: boolean): Promise<FileContent | undefined>;
  symlink(relative: string, link: string): Promise<void>;
  /** Makes `relative` a hard link to the file at `target`. */
  link(target: string, relative: string): Promise<void>;
  /** The link text at `relative`, or null when it is no symlink. */
  readLink(relative: string): Promise<string | null>;
  /** The names in the directory at `relative` (a real directory: the caller checked). */
  children(relative: string): string[];
}

/** Files up to this size are read whole and written with one call. */
const SMALL_FILE_BYTES = 1024 * 1024;

export class DiskTree implements ExtractTree {
  /**
   * What this tree made, when it began empty and only it writes there (a
   * private work directory): then `kind` needs no lstat, which was a tenth
   * of unpacking a layer of small files (a failed lookup per new file).
   */
  private readonly made: PathMap<NodeKind> | null;

  constructor(
    readonly root: string,
    options: { fresh?: boolean } = {},
  ) {
    this.made = options.fresh ? new PathMap() : null;
  }

  private full(relative: string): string {
    return path.join(this.root, relative);
  }

  kind(relative: string): NodeKind | null {
    if (this.made) return this.made.get(relative) ?? null;
    const stat = lstatOrNullSync(this.full(relative));
    if (stat === null) return null;
    return stat.isDirectory() ? "dir" : stat.isFile() ? "file" : stat.isSymbolicLink() ? "symlink" : "other";
  }

  mkdir(relative: string): void {
    mkdirSync(this.full(relative), { mode: 0o755 });
    this.made?.set(relative, "dir");
  }

  keepDir(relative: string): void {
    chmodSync(this.full(relative), 0o755);
  }

  unlink(relative: string): void {
    unlinkSync(this.full(relative));
    this.made?.deleteTree(relative);
  }

  async removeDir(relative: string): Promise<void> {
    await fs.rm(this.full(relative), { recursive: true, force: true });
    this.made?.deleteTree(relative);
  }

  async writeFile(relative: string, size: number, body: AsyncIterable<Buffer>, executable: boolean): Promise<FileContent> {
    const full = this.full(relative);
    const mode = executable ? 0o755 : 0o644;
    let written: FileContent;
    if (size <= SMALL_FILE_BYTES) {
      // Most files in a venv are small: one buffered write instead of a stream of awaited ones.
      const content = await readBody(body, SMALL_FILE_BYTES, relative);
      writeFileSync(full, content, { flag: "wx", mode });
      written = { sha256: sha256Hex(content), size: content.length };
    } else {
      written = await writeNewFile(body, full, mode);
    }
    // The umask may have taken bits the file should have.
    chmodSync(full, mode);
    this.made?.set(relative, "file");
    return written;
  }

  async symlink(relative: string, link: string): Promise<void> {
    await fs.symlink(link, this.full(relative));
    this.made?.set(relative, "symlink");
  }

  async link(target: string, relative: string): Promise<void> {
    await fs.link(this.full(target), this.full(relative));
    this.made?.set(relative, "file");
  }

  children(relative: string): string[] {
    return readdirSync(this.full(relative));
  }

  async readLink(relative: string): Promise<string | null> {
    const full = this.full(relative);
    return (await lstatOrNull(full))?.isSymbolicLink() ? fs.readlink(full) : null;
  }
}

type MemoryNode = "dir" | "file" | { link: string };

/** A tree of names only: file bodies are never read (the tar reader skips them), so checking costs no hashing. */
export class MemoryTree implements ExtractTree {
  readonly root = null;
  private readonly nodes = new PathMap<MemoryNode>();

  kind(relative: string): NodeKind | null {
    const node = this.nodes.get(relative);
    return node === undefined ? null : typeof node === "string" ? node : "symlink";
  }

  mkdir(relative: string): void {
    this.nodes.set(relative, "dir");
  }

  keepDir(): void {}

  unlink(relative: string): void {
    this.nodes.deleteTree(relative);
  }

  removeDir(relative: string): Promise<void> {
    this.nodes.deleteTree(relative);
    return Promise.resolve();
  }

  writeFile(relative: string): Promise<undefined> {
    this.nodes.set(relative, "file");
    return Promise.resolve(undefined);
  }

  symlink(relative: string, link: string): Promise<void> {
    this.nodes.set(relative, { link });
    return Promise.resolve();
  }

  link(_target: string, relative: string): Promise<void> {
    this.nodes.set(relative, "file");
    return Promise.resolve();
  }

  children(relative: string): string[] {
    return this.nodes.childNames(relative);
  }

  readLink(relative: string): Promise<string | null> {
    const node = this.nodes.get(relative);
    return Promise.resolve(node === undefined || typeof node === "string" ? null : node.link);
  }
}
