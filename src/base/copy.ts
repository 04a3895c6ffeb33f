import { constants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { relocateContent, replaceAll } from "../image/relocation.js";
import { forEachLimited } from "../util/pool.js";
import { PROMPT_PLACEHOLDER, type Base } from "./base.js";

/** Enough parallel copies to hide per-file latency without exhausting file handles. */
const COPY_CONCURRENCY = 16;

/**
 * Lays the base's files into `dir` (which exists and is empty), rewriting the
 * files that name the base's path so they name `prefix` instead, and the
 * activate prompt to `prompt` when given (a build keeps the placeholder, so
 * its scripts compare equal to the base's). `dir` is where the files go now;
 * `prefix` is where they will live (a container is made beside its final path
 * and renamed into place). Copies use reflinks where the filesystem has them,
 * and keep modification times so the base's bytecode stays valid.
 */
export async function copyBase(base: Base, dir: string, prefix: string, prompt?: string): Promise<void> {
  const files = [];
  for (const entry of base.entries) {
    const target = path.join(dir, entry.path);
    if (entry.type === "dir") await fs.mkdir(target, { mode: entry.mode });
    else if (entry.type === "symlink") await fs.symlink(entry.link ?? "", target);
    else files.push(entry);
  }
  await forEachLimited(files, COPY_CONCURRENCY, async (entry) => {
    const source = path.join(base.dir, entry.path);
    const target = path.join(dir, entry.path);
    if (entry.relocate) {
      let content = relocateContent(await fs.readFile(source), entry.relocate, base.path, prefix);
      if (prompt !== undefined && entry.relocate === "text") content = replaceAll(content, PROMPT_PLACEHOLDER, prompt);
      await fs.writeFile(target, content, { mode: entry.mode });
      await fs.chmod(target, entry.mode);
      return;
    }
    await fs.copyFile(source, target, constants.COPYFILE_FICLONE);
    const stat = await fs.stat(source);
    await fs.utimes(target, stat.atime, stat.mtime);
  });
}
