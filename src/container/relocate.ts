/**
 * `pypakr relocate -c DIR`: a container that was moved or copied, rewritten
 * in place for where it now is. Its relocated files (the base's and the
 * image's, as create-container made them, see relocation.ts) name the path it
 * was made at; each gets the new one.
 *
 * Safe against a kill at any point:
 * 1. every new content (files, launch file, record) is written into
 *    `.pypakr/relocating.tmp`, with a journal of where each goes. Nothing in
 *    the container has changed; an interrupted phase 1 is discarded.
 * 2. renaming that directory to `.pypakr/relocating` commits.
 * 3. each staged file is renamed over its original (a rename replaces a hard
 *    link without touching the store's copy), the record last; then the
 *    journal goes. A re-run, or any `pypakr run` or `verify -c`, finishes
 *    an interrupted phase 3 from the journal, renaming what is still staged:
 *    no content is ever substituted twice (a new path that starts with the
 *    old one, as in /x/c -> /x/cc, stays right).
 * The launch file refuses the container while the journal exists, so the
 * shell's fast path never runs a half-relocated container. All of it runs
 * under the container's relocation lock (relocation-journal.ts): a second
 * relocate waits, and is then the no-op of a container that has not moved.
 */
import { accessSync, closeSync, constants, fchmodSync, fsyncSync, openSync, readFileSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { loadBase } from "../base/index.js";
import { containerRecordFile, JOURNAL_NAME, LAUNCH_FILE, METADATA_DIR, RELOCATION_JOURNAL_PATH } from "../layout/index.js";
import type { Config } from "../config/index.js";
import { relocateContent, RelocationError, type RelocationKind, unfixShebang, unsafePrefixReason } from "../image/index.js";
import { loadImage, Store } from "../store/index.js";
import { PypakrError } from "../util/errors.js";
import { fsyncFile, lstatOrNull, lstatOrNullSync, removeTree } from "../util/fs.js";
import { readJson } from "../util/json.js";
import { shellWord, show } from "../util/printable.js";
import type { Digest } from "../util/hash.js";
import { launchScript } from "./launch.js";
import { breather, confinedPath, finishJournal, movedFrom, withRelocationLock, type Journal } from "./relocation-journal.js";

const STAGING_PATH = `${RELOCATION_JOURNAL_PATH}.tmp`;

import { readContainerRecord, type ContainerRecord } from "./record.js";

/**
 * One file's content for the new path, by create-container's rules: the
 * path anywhere in text (a `#!/bin/sh` re-exec line made for a long path is
 * turned back into a plain `#!` line first, so the shebang fits the new path
 * as it would in a fresh container); in binary files only inside
 * NUL-terminated strings, never longer.
 */
export function relocateFileContent(content: Buffer, kind: RelocationKind, from: string, to: string): Buffer {
  return relocateContent(kind === "binary" ? content : unfixShebang(content, from), kind, from, to);
}

function readNoFollow(file: string): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Only the journal is synced, as create-container syncs only the record: a kill loses nothing the page cache holds. */
function writeStaged(file: string, content: string | Buffer, mode: number, sync = false): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeFileSync(fd, content);
    fchmodSync(fd, mode);
    if (sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The files create-container relocated: the base's (from its manifest) and the image's (its relocation table). */
async function relocatedFiles(config: Config, dir: string, record: ContainerRecord): Promise<Map<string, RelocationKind>> {
  const base = await loadBase(config, record.base.kind);
  if (!base) {
    throw new PypakrError(`this machine has no base ${show(record.base.kind)}, whose manifest says which of ${dir}'s files name its path`, {
      code: "base-not-found",
      hint: `Make the container afresh at its new path: pypakr create-container -i ${record.image.digest} -c ${shellWord(dir)} --force (after pypakr init --python PYTHON for that interpreter).`,
    });
  }
  const store = await Store.open(config);
  const image = await loadImage(store, record.image.digest as Digest).catch(() => {
    throw new PypakrError(`the store no longer holds image ${show(record.image.digest)}, whose relocation table says which of ${dir}'s files name its path`, {
      code: "image-not-found",
      hint: "Load or pull that image again (pypakr load -i IMAGE.tar, pypakr pull REF), then run pypakr relocate again.",
    });
  });
  const files = new Map<string, RelocationKind>();
  for (const entry of base.entries) if (entry.type === "file" && entry.relocate) files.set(entry.path, entry.relocate);
  for (const file of image.config.pypakr.relocation.files) files.set(file.path, file.kind);
  return files;
}

/** Phase 1: stages every new content and the journal; returns how many of the container's files change. */
async function stage(config: Config, dir: string, record: ContainerRecord, rawRecord: Record<string, unknown>, from: string, to: string): Promise<number> {
  const files = await relocatedFiles(config, dir, record);
  const staging = path.join(dir, STAGING_PATH);
  await fs.mkdir(staging, { mode: 0o700 });
  const journal: Journal = { formatVersion: 1, from, to, files: [] };
  const checked = new Set<string>();
  const writable = new Set<string>();
  const pause = breather(500);
  for (const [done, [relative, kind]] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).entries()) {
    await pause(done);
    if (relative === METADATA_DIR || relative.startsWith(`${METADATA_DIR}/`)) continue;
    const full = confinedPath(dir, relative, checked);
    const stat = full ? lstatOrNullSync(full) : null;
    // Gone, or replaced by a link or directory: nothing of create-container's is left there to rewrite.
    if (!full || !stat?.isFile()) continue;
    const content = readNoFollow(full);
    let relocated: Buffer;
    try {
      relocated = relocateFileContent(content, kind, from, to);
    } catch (error) {
      if (!(error instanceof RelocationError)) throw error;
      throw new PypakrError(`cannot relocate ${dir}: ${relative} is a binary file that names ${from}, and ${error.message}; nothing was changed`, {
        code: "path-too-long",
        hint: `Move the container to a path of at most ${Buffer.byteLength(from)} bytes, or make a new container there: pypakr create-container -i ${record.image.digest} -c ${shellWord(dir)} --force`,
      });
    }
    if (relocated.equals(content)) continue;
    // A rename needs write access to the file's directory: checked now, while nothing has changed.
    const parent = path.dirname(full);
    if (!writable.has(parent)) {
      try {
        accessSync(parent, constants.W_OK);
      } catch {
        throw new PypakrError(`cannot relocate ${dir}: ${parent} is not writable; nothing was changed`, { code: "write-failed", hint: `Make it writable (chmod u+w ${shellWord(parent)}) and run pypakr relocate again.` });
      }
      writable.add(parent);
    }
    const staged = String(journal.files.length);
    writeStaged(path.join(staging, staged), relocated, stat.mode & 0o7777);
    journal.files.push({ staged, path: relative });
  }
  const changed = journal.files.length;
  const launch = launchScript(to, record.environment, record.entrypoint, await fs.realpath(dir));
  if (launch !== null) {
    writeStaged(path.join(staging, "launch"), launch, 0o644);
    journal.files.push({ staged: "launch", path: `${METADATA_DIR}/${LAUNCH_FILE}` });
  }
  // The record as read, unknown fields kept; the prompt is the activate scripts', which keep theirs.
  const newRecord = { ...rawRecord, dir: to, prompt: record.prompt ?? path.basename(from) };
  writeStaged(path.join(staging, "record"), JSON.stringify(newRecord, null, 2) + "\n", 0o644);
  journal.files.push({ staged: "record", path: path.relative(dir, containerRecordFile(dir)) });
  writeStaged(path.join(staging, JOURNAL_NAME), JSON.stringify(journal) + "\n", 0o600, true);
  await fsyncFile(staging);
  return changed;
}

export interface Relocated {
  dir: string;
  /** The path the container named before; null when it had not moved. */
  from: string | null;
  /** Files whose content changed (the launch file and record aside). */
  files: number;
}

/** The record with every field it holds (readContainerRecord keeps only those it knows), to be written back changed. */
async function readRawRecord(dir: string): Promise<Record<string, unknown>> {
  return readJson(containerRecordFile(dir), z.record(z.string(), z.unknown()), { code: "container-damaged", hint: `Make the container afresh: pypakr create-container -i IMAGE -c ${shellWord(dir)} --force` });
}

/** Whether `dir` still holds a container that was made there (so the store's index keeps it). */
async function holdsContainerMadeThere(dir: string): Promise<boolean> {
  const record = await readContainerRecord(dir).catch(() => null);
  if (!record) return false;
  return record.dir === undefined || (await movedFrom(dir, record)) === null;
}

export async function relocateContainer(config: Config, container: string): Promise<Relocated> {
  const dir = path.resolve(container);
  const metadata = await lstatOrNull(path.join(dir, METADATA_DIR));
  if (metadata && !metadata.isDirectory()) throw new PypakrError(`${dir} is not a pypakr container (its ${METADATA_DIR} is not a directory)`, { code: "not-a-container", hint: "Name a container made by pypakr create-container." });
  // No metadata directory, no container: the record's reader says so (before any lock is made there).
  if (!metadata) await readContainerRecord(dir);
  return withRelocationLock(dir, () => relocateLocked(config, dir));
}

async function relocateLocked(config: Config, dir: string): Promise<Relocated> {
  await finishJournal(dir);
  const record = await readContainerRecord(dir);
  if (record.dir === undefined) {
    throw new PypakrError(`${dir} was made by an older pypakr, whose record does not say where the container was made, so it cannot be relocated`, {
      code: "container-too-old",
      hint: `Make it afresh: pypakr create-container -i ${record.image.digest} -c ${shellWord(dir)} --force`,
    });
  }
  const from = await movedFrom(dir, record);
  if (from === null) return { dir, from: null, files: 0 };
  const reason = unsafePrefixReason(dir);
  if (reason) throw new PypakrError(`cannot relocate to ${dir}: the path ${reason}`, { code: "unsafe-path", hint: "Move the container to a path without quotes, $, backslashes or line breaks." });
  // What an interrupted phase 1 left: nothing had changed, so it goes.
  await removeTree(path.join(dir, STAGING_PATH));
  const rawRecord = await readRawRecord(dir);
  let files: number;
  try {
    files = await stage(config, dir, record, rawRecord, from, dir);
    await fs.rename(path.join(dir, STAGING_PATH), path.join(dir, RELOCATION_JOURNAL_PATH));
  } catch (error) {
    await removeTree(path.join(dir, STAGING_PATH));
    throw error;
  }
  await fsyncFile(path.join(dir, METADATA_DIR));
  const store = await Store.open(config);
  // The new path keeps the image from gc from now on; the old keeps it while a container made there is still there.
  await store.updateIndex((index) => {
    index.containers[dir] = record.image.digest;
  });
  await finishJournal(dir, { resuming: false });
  if (!(await holdsContainerMadeThere(from))) {
    await store.updateIndex((index) => {
      if (index.containers[from] === record.image.digest) delete index.containers[from];
    });
  }
  return { dir, from, files };
}
