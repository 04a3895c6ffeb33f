/**
 * What `pypakr run` and `verify` need of relocation (relocate.ts), kept apart
 * so that run loads no more than it uses: whether a container is where it was
 * made, and finishing a relocation that was killed after it committed.
 *
 * A relocation holds the container's lock (`.pypakr/relocation.lock`, the
 * store's owner-aware lock) from its first look at the container to its
 * end, and so does finishing a journal: two relocates never interleave, and
 * a `run` or `verify` that finds a relocation under way waits for it rather
 * than renaming the same files at the same time. Nothing else takes the
 * lock, so a run of a container nobody relocates costs one lstat more.
 */
import { renameSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { JOURNAL_NAME, METADATA_DIR, RELOCATION_JOURNAL_PATH, RELOCATION_LOCK_PATH } from "../layout/index.js";
import { acquireLock, isLockHeld, LockTimeoutError } from "../store/index.js";
import { describe, isErrno, PypakrError } from "../util/errors.js";
import { fsyncFile, lstatOrNull, lstatOrNullSync, removeTree } from "../util/fs.js";
import { readJson } from "../util/json.js";
import { progress } from "../util/log.js";
import { shellWord, show } from "../util/printable.js";
import type { ContainerRecord } from "./record.js";

/** How long a relocate, run or verify waits for another process's relocation of the same container. */
const RELOCATION_LOCK_TIMEOUT_MS = 2 * 60_000;

const journalSchema = z.object({
  formatVersion: z.literal(1),
  from: z.string(),
  to: z.string(),
  /** In order; the record comes last. `staged` is a name inside the journal directory. */
  files: z.array(z.object({ staged: z.string().regex(/^(?:\d{1,9}|launch|record)$/), path: z.string() })),
});
export type Journal = z.infer<typeof journalSchema>;

/** The container's path as its files name it now, or null when it is where it was made (or too old to say). */
export async function movedFrom(dir: string, record: ContainerRecord): Promise<string | null> {
  if (record.dir === undefined) return null;
  const here = await fs.realpath(dir);
  const made = await fs.realpath(record.dir).catch(() => null);
  return here === made ? null : record.dir;
}

export function movedError(dir: string, from: string): PypakrError {
  return new PypakrError(`container ${dir} was made at ${from} and has been moved or copied since: its venv still names ${from}, so it would run the wrong Python`, {
    code: "container-moved",
    hint: `Rewrite it for its new path: pypakr relocate -c ${shellWord(dir)}`,
  });
}

/** A container-relative path that stays inside the container: no absolute path, `..`, or empty part. */
function isPlainRelative(relative: string): boolean {
  return relative !== "" && !relative.startsWith("/") && relative.split("/").every((part) => part !== "" && part !== "." && part !== "..") && !relative.includes("\0");
}

/**
 * The full path of `relative` in `dir`, when every directory on the way is a
 * real directory (not a symlink, which a rename or read would follow out of
 * the container); else null.
 */
export function confinedPath(dir: string, relative: string, checked: Set<string> = new Set()): string | null {
  if (!isPlainRelative(relative)) return null;
  const parts = relative.split("/");
  let at = dir;
  for (const part of parts.slice(0, -1)) {
    at = path.join(at, part);
    if (checked.has(at)) continue;
    if (!lstatOrNullSync(at)?.isDirectory()) return null;
    checked.add(at);
  }
  return path.join(at, parts[parts.length - 1] ?? "");
}

/** Lets signal handlers run between batches of synchronous file operations (see scanTree for why they are synchronous). */
export function breather(every: number): (done: number) => Promise<void> {
  return (done) => (done % every === every - 1 ? new Promise((resolve) => setImmediate(resolve)) : Promise.resolve());
}

/**
 * Runs `work` holding `dir`'s relocation lock, waiting up to `timeoutMs` for
 * another process's relocation; its `.pypakr` must be a real directory (the
 * caller checked: a link would put the lock elsewhere).
 */
export async function withRelocationLock<T>(dir: string, work: () => Promise<T>, timeoutMs = RELOCATION_LOCK_TIMEOUT_MS): Promise<T> {
  const lock = path.join(dir, RELOCATION_LOCK_PATH);
  if (await isLockHeld(lock)) progress(`waiting for another pypakr process to finish relocating ${dir}`);
  let release: () => Promise<void>;
  try {
    release = await acquireLock(lock, timeoutMs);
  } catch (error) {
    if (error instanceof LockTimeoutError) {
      throw new PypakrError(`another pypakr process is relocating ${dir} and did not finish in time (the lock ${lock} is ${error.message})`, {
        code: "container-busy",
        hint: "Wait for the other pypakr relocate to finish, then run the command again.",
      });
    }
    throw new PypakrError(`cannot lock ${dir} against concurrent relocation: ${describe(error)}`, {
      code: "write-failed",
      hint: `Relocating (or finishing an interrupted relocation) writes into the container: run the command as a user who may write to ${shellWord(dir)}.`,
      cause: error,
    });
  }
  try {
    return await work();
  } finally {
    await release();
  }
}

/**
 * Finishes a relocation of `dir` before a command uses it: waits for one a
 * live pypakr relocate is doing, and completes one that was killed after it
 * committed (under the lock, so never alongside another process doing the
 * same). Returns whether there was a journal to finish.
 */
export async function finishRelocation(dir: string): Promise<boolean> {
  const metadata = await lstatOrNull(path.join(dir, METADATA_DIR));
  if (!metadata?.isDirectory()) return false;
  const [journal, locked] = await Promise.all([lstatOrNull(path.join(dir, RELOCATION_JOURNAL_PATH)), isLockHeld(path.join(dir, RELOCATION_LOCK_PATH))]);
  if (!journal && !locked) return false;
  return withRelocationLock(dir, () => finishJournal(dir));
}

/**
 * Phase 3: finishes a committed relocation of `dir` from its journal, the
 * caller holding the relocation lock. Returns whether there was one.
 */
export async function finishJournal(dir: string, options: { resuming: boolean } = { resuming: true }): Promise<boolean> {
  const journalDir = path.join(dir, RELOCATION_JOURNAL_PATH);
  // Both real directories: a .pypakr that is a link would bring a journal from elsewhere.
  const [metadata, stat] = await Promise.all([lstatOrNull(path.join(dir, METADATA_DIR)), lstatOrNull(journalDir)]);
  if (!metadata?.isDirectory() || !stat?.isDirectory()) return false;
  let journal: Journal;
  const damage = {
    code: "container-damaged",
    message: () => `${journalDir} (an unfinished pypakr relocate) is damaged`,
    hint: `Make the container afresh: pypakr create-container -i IMAGE -c ${shellWord(dir)} --force`,
  } as const;
  try {
    journal = await readJson(path.join(journalDir, JOURNAL_NAME), journalSchema, damage);
  } catch (error) {
    if (!isErrno(error, "ENOENT")) throw error;
    throw new PypakrError(damage.message(), { code: damage.code, hint: damage.hint });
  }
  const checked = new Set<string>();
  const pause = breather(500);
  for (const [done, file] of journal.files.entries()) {
    const staged = path.join(journalDir, file.staged);
    if (!lstatOrNullSync(staged)?.isFile()) continue; // renamed before the interruption
    const target = confinedPath(dir, file.path, checked);
    if (!target) throw new PypakrError(`the unfinished relocation in ${journalDir} names ${show(file.path)}, which is not inside the container; refusing it`, { code: "container-damaged", hint: `Remove ${journalDir} and make the container afresh with pypakr create-container --force.` });
    renameSync(staged, target);
    await pause(done);
  }
  await fsyncFile(path.join(dir, METADATA_DIR));
  await removeTree(journalDir);
  if (options.resuming) progress(`finished relocating ${dir} from ${journal.from}, which an interrupted pypakr relocate had begun`);
  return true;
}

