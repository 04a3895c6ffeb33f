import { constants, lstatSync, type Stats } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { isErrno } from "./errors.js";
import { Sha256Counter } from "./hash.js";
import { siblingOwner, siblingTempPath, tempOwner } from "./temp-names.js";

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
  const hash = new Sha256Counter();
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
  return { sha256: hash.hex(), size: hash.size };
}

/** lstat, or null when nothing is there. */
export async function lstatOrNull(file: string): Promise<Stats | null> {
  try {
    return await fs.lstat(file);
  } catch (error) {
    // ENOTDIR: a parent is now a file, so nothing is there either.
    if (isErrno(error, "ENOENT") || isErrno(error, "ENOTDIR")) return null;
    throw error;
  }
}

/** lstat without a round trip through the thread pool, or null when nothing is there. */
export function lstatOrNullSync(file: string): Stats | null {
  try {
    return lstatSync(file, { throwIfNoEntry: false }) ?? null;
  } catch (error) {
    if (isErrno(error, "ENOTDIR")) return null;
    throw error;
  }
}

/** Whether a process with this pid runs (on this machine, in this pid namespace). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrno(error, "EPERM");
  }
}

/**
 * Removes the tempName(stem) entries in `dir` whose process no longer runs
 * (what a SIGKILL, a crash or a power cut left behind). Returns the bytes freed.
 * Entries of live processes, and anything not named so, are left alone;
 * entries that cannot be removed (another user's) are skipped.
 */
export async function removeDeadTemp(dir: string, stem: string | ((name: string) => number | null)): Promise<number> {
  const owner = typeof stem === "string" ? (name: string) => tempOwner(name, stem) : stem;
  let freed = 0;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const pid = owner(name);
    if (pid === null || pid === process.pid || processAlive(pid)) continue;
    const file = path.join(dir, name);
    const size = await treeSize(file).catch(() => 0);
    try {
      await fs.rm(file, { recursive: true, force: true, maxRetries: 2 });
      freed += size;
    } catch {
      // Not ours to remove (another user's, a read-only place): leave it.
    }
  }
  return freed;
}

export async function treeSize(file: string): Promise<number> {
  const stat = await lstatOrNull(file);
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  for (const name of await fs.readdir(file).catch(() => [] as string[])) total += await treeSize(path.join(file, name));
  return total;
}

/** Removes the temporary siblings of `target` that dead processes left (see siblingTempPath). */
export async function removeDeadSiblings(target: string): Promise<number> {
  const owner = siblingOwner(target);
  return removeDeadTemp(path.dirname(target), (name) => owner(name)?.pid ?? null);
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
 * What killed processes left beside `target` goes first.
 */
export async function withTempPath<T>(target: string, purpose: string, work: (temp: string) => Promise<T>): Promise<T> {
  await removeDeadSiblings(target);
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
