/**
 * The store's lock: a directory holding `owner.json` (pid, host, a random
 * id), made complete beside the lock path and renamed onto it, so a lock that
 * exists always names its owner. A lock whose owner died on this machine
 * (SIGKILL, a crash) is broken at once, not after a timeout; one from another
 * machine (a store on a network filesystem) counts as dead when its owner
 * stopped refreshing its mtime for STALE_MS.
 *
 * Breaking is serialized by a second lock (`LOCK.break`, held for the
 * microseconds between re-reading the owner and renaming the lock away), so
 * two processes that both find the same dead owner cannot take turns removing
 * a live lock.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as z from "zod";
import { isErrno } from "../util/errors.js";
import { readJson } from "../util/json.js";
import { processAlive, removeDeadSiblings, removeTree } from "../util/fs.js";
import { randomSuffix, siblingTempPath } from "../util/temp-names.js";

/** Who holds a lock: `owner.json` inside it. */
const ownerSchema = z.object({ pid: z.number(), host: z.string(), id: z.string() });
type Owner = z.infer<typeof ownerSchema>;

/** A lock from another machine counts as abandoned when not refreshed for this long. */
const STALE_MS = 10_000;
const REFRESH_MS = 2_000;
/** A breaker lock older than this was left by a process that died while breaking. */
const BREAKER_STALE_MS = 2_000;

export class LockTimeoutError extends Error {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readOwner(lock: string): Promise<Owner | null> {
  try {
    return await readJson(path.join(lock, "owner.json"), ownerSchema, { code: "store-damaged" });
  } catch {
    return null;
  }
}

async function ageMs(file: string): Promise<number | null> {
  try {
    return Date.now() - (await fs.stat(file)).mtimeMs;
  } catch {
    return null;
  }
}

/** Whether the lock's holder is gone: dead on this host, or silent for STALE_MS elsewhere (or unreadable for that long). */
async function isAbandoned(lock: string, owner: Owner | null): Promise<boolean> {
  if (owner && owner.host === os.hostname()) return owner.pid !== process.pid && !processAlive(owner.pid);
  const age = await ageMs(lock);
  return age !== null && age > STALE_MS;
}

/** Removes `lock` if it is still the abandoned one seen (same id), under the breaker lock. True when the caller may retry at once. */
async function breakAbandoned(lock: string, seen: Owner | null): Promise<boolean> {
  const breaker = `${lock}.break`;
  try {
    await fs.mkdir(breaker);
  } catch (error) {
    if (!isErrno(error, "EEXIST")) throw error;
    const age = await ageMs(breaker);
    if (age !== null && age > BREAKER_STALE_MS) await fs.rmdir(breaker).catch(() => undefined);
    return false;
  }
  try {
    const now = await readOwner(lock);
    if ((now?.id ?? null) !== (seen?.id ?? null)) return true;
    const doomed = siblingTempPath(lock, "stale");
    try {
      await fs.rename(lock, doomed);
    } catch (error) {
      if (isErrno(error, "ENOENT")) return true;
      throw error;
    }
    await removeTree(doomed);
    return true;
  } finally {
    await fs.rmdir(breaker).catch(() => undefined);
  }
}

/**
 * Takes the lock at `lock` (a path that must not be used for anything else),
 * waiting up to `timeoutMs`; resolves to its release. Throws LockTimeoutError
 * when a live process holds it all that time.
 */
export async function acquireLock(lock: string, timeoutMs: number): Promise<() => Promise<void>> {
  const owner: Owner = { pid: process.pid, host: os.hostname(), id: randomSuffix() };
  await removeDeadSiblings(lock);
  const staging = siblingTempPath(lock, "acquire");
  await fs.mkdir(staging);
  try {
    await fs.writeFile(path.join(staging, "owner.json"), JSON.stringify(owner));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        // Onto a path that holds a lock (never an empty directory), rename fails: only one taker wins.
        await fs.rename(staging, lock);
        break;
      } catch (error) {
        if (!isErrno(error, "ENOTEMPTY") && !isErrno(error, "EEXIST")) throw error;
      }
      const holder = await readOwner(lock);
      if (holder === null && (await ageMs(lock)) === null) continue; // released just now
      if ((await isAbandoned(lock, holder)) && (await breakAbandoned(lock, holder))) continue;
      if (Date.now() > deadline) throw new LockTimeoutError(`held by ${holder ? `process ${holder.pid} on ${holder.host}` : "another process"} for over ${Math.round(timeoutMs / 1000)} s`);
      await sleep(10 + Math.random() * 40);
    }
  } catch (error) {
    await removeTree(staging);
    throw error;
  }
  // Only a lock from another machine is judged by its age, but refreshing costs nothing.
  const refresh = setInterval(() => {
    const now = new Date();
    fs.utimes(lock, now, now).catch(() => undefined);
  }, REFRESH_MS);
  refresh.unref();
  return async () => {
    clearInterval(refresh);
    // Renamed away first, so nobody ever sees a lock without its owner.
    if ((await readOwner(lock))?.id !== owner.id) return;
    const released = siblingTempPath(lock, "released");
    await fs.rename(lock, released);
    await removeTree(released);
  };
}

/**
 * Whether the lock at `lock` is held by a live process: one of this module's
 * (judged by its owner), or proper-lockfile's ownerless directory (judged by
 * its age against `staleMs`).
 */
export async function isLockHeld(lock: string, staleMs = STALE_MS): Promise<boolean> {
  const age = await ageMs(lock);
  if (age === null) return false;
  const owner = await readOwner(lock);
  if (owner && owner.host === os.hostname()) return owner.pid === process.pid || processAlive(owner.pid);
  return age <= staleMs;
}
