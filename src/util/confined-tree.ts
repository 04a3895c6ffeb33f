/**
 * The one door through which a container (or a build's work env) is
 * written: every directory, file, link and copy made while materializing
 * goes through here, and none can follow a symlink out of the tree.
 *
 * A write is allowed only into a directory this tree made itself (or the
 * root), and every name is created exclusively (O_EXCL, mkdir, link and
 * symlink all fail on an existing name, a symlink included). By induction no
 * parent of a written path is a symlink, whatever a plan, a base record or
 * an image asked for: this is the last line of defence behind the checks in
 * extraction and planning, not a replacement for them.
 */
import { constants, copyFileSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { PypakrError } from "./errors.js";

export class ConfinedTree {
  private readonly madeDirs = new Set<string>([""]);

  constructor(readonly root: string) {}

  private target(relative: string): string {
    const slash = relative.lastIndexOf("/");
    const parent = slash < 0 ? "" : relative.slice(0, slash);
    const name = relative.slice(slash + 1);
    if (name === "" || name === "." || name === ".." || relative.includes("\0") || !this.madeDirs.has(parent)) {
      throw new PypakrError(`refusing to write "${relative}" into ${this.root}: ${this.madeDirs.has(parent) ? "not a plain name" : `its parent "${parent}" is not a directory pypakr made there`}`, {
        code: "unsafe-entry",
        hint: "The image or base asked for a path outside the container; this is a bug or a crafted image. Get the image from a trusted source.",
      });
    }
    return `${this.root}/${relative}`;
  }

  mkdir(relative: string, mode: number): void {
    mkdirSync(this.target(relative), { mode });
    this.madeDirs.add(relative);
  }

  symlink(relative: string, link: string): void {
    symlinkSync(link, this.target(relative));
  }

  writeFile(relative: string, content: string | Uint8Array, mode: number): void {
    writeFileSync(this.target(relative), content, { flag: "wx", mode });
  }

  /** A hard link to `source` (outside the tree: the store or a base). */
  link(source: string, relative: string): void {
    linkSync(source, this.target(relative));
  }

  /** A copy of `source`; `clone` asks for a copy-on-write clone ("force": or fail). */
  copy(source: string, relative: string, clone: "try" | "force"): void {
    copyFileSync(source, this.target(relative), constants.COPYFILE_EXCL | (clone === "force" ? constants.COPYFILE_FICLONE_FORCE : constants.COPYFILE_FICLONE));
  }
}
