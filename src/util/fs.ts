import { createHash, randomBytes } from "node:crypto";
import { constants, lstatSync, type Stats } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { isErrno } from "./errors.js";

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (error) {
    if (isErrno(error, "ENOENT") || isErrno(error, "ENOTDIR")) return false;
    throw error;
  }
}

/**
 * Streams `body` into a new file (refusing to overwrite anything), hashing
 * it on the way. Iterated, not piped: when a tar parser destroys an entry's
 * stream (a truncated archive), possibly before this starts, a pipe from it
 * never settles, while iteration ends at once and the parser's error surfaces.
 */
export async function writeNewFile(body: AsyncIterable<Buffer>, file: string, mode = 0o644): Promise<{ sha256: string; size: number }> {
  const handle = await fs.open(file, "wx", mode);
  const hash = createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      size += chunk.length;
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest("hex"), size };
}

/** lstat, or null when nothing is there. */
export async function lstatOrNull(file: string): Promise<Stats | null> {
  try {
    return await fs.lstat(file);
  } catch (error) {
    if (isErrno(error, "ENOENT")) return null;
    throw error;
  }
}

/** lstat without a round trip through the thread pool, or null when nothing is there. */
export function lstatOrNullSync(file: string): Stats | null {
  return lstatSync(file, { throwIfNoEntry: false }) ?? null;
}

export function randomSuffix(): string {
  return randomBytes(6).toString("hex");
}

/**
 * A path beside `target` (same directory, so same filesystem) that a rename can
 * move onto `target` atomically. Hidden, so a half-made result never looks like
 * the real thing.
 */
export function siblingTempPath(target: string, purpose: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${purpose}-${randomSuffix()}`);
}

/** Paths to remove if the process is interrupted (Ctrl-C, SIGTERM) mid-work. */
const pendingCleanup = new Set<string>();

export function cleanupOnInterrupt(file: string): () => void {
  pendingCleanup.add(file);
  return () => pendingCleanup.delete(file);
}

export function pathsPendingCleanup(): string[] {
  return [...pendingCleanup];
}

export async function removeTree(file: string): Promise<void> {
  await fs.rm(file, { recursive: true, force: true, maxRetries: 2 });
}

/**
 * Runs `work` with a fresh temporary path beside `target`, and removes that path
 * if work fails or the process is interrupted. Work must rename or remove it.
 */
export async function withTempPath<T>(target: string, purpose: string, work: (temp: string) => Promise<T>): Promise<T> {
  const temp = siblingTempPath(target, purpose);
  const forget = cleanupOnInterrupt(temp);
  try {
    return await work(temp);
  } finally {
    forget();
    await removeTree(temp);
  }
}

/** Writes a file so that readers see either the old content or all of the new one. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await withTempPath(file, "tmp", async (temp) => {
    const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  });
}

export async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await fs.readdir(dir)).length === 0;
}
