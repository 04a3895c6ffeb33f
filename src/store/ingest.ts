/**
 * The one way blob bytes enter the store, shaped like containerd's content
 * writer: bytes go to a file a BlobWriter (util/blob-writer.ts) created
 * itself (exclusively, in the store's tmp/ or partial/, so on the blobs'
 * filesystem), hashed and counted as they are written, with an expected size
 * past which a stream is cut off (a hostile source could send forever).
 * Committing (here) checks size and digest against the descriptor, fsyncs,
 * and renames into blobs/; a blob already there is never replaced, since it
 * is what its name says.
 *
 * Committing may come later than writing: a load or a pull first validates
 * the whole image and only then, under the store's lock, commits every blob
 * it wrote (Store.commitBlob). What travels between the two is a WrittenBlob,
 * which only a BlobWriter makes, so the store never takes a file on trust.
 */
import * as fs from "node:fs/promises";
import { fsyncFile, lstatOrNull } from "../util/fs.js";
import type { WrittenBlob } from "../util/blob-writer.js";

/** What a blob must be: its digest and size, from a descriptor. */
export interface BlobExpectation {
  digest: string;
  size: number;
}

/** Written bytes that are not the blob the descriptor names. */
export class BlobMismatchError extends Error {}

/** Why `written` is not the blob `expected` names, or null when it is. */
export function blobMismatch(written: WrittenBlob, expected: BlobExpectation): string | null {
  if (written.size !== expected.size) return `it is ${written.size} bytes where ${expected.size} were expected`;
  if (written.digest !== expected.digest) return `its content hashes to ${written.digest}`;
  return null;
}

/**
 * Moves `written` to `target`, the blob's place, once its size and digest are
 * checked against `expected` and its bytes are on disk. A blob already at
 * `target` stays as it is. Call under the store's lock. The file is consumed
 * either way (a mismatch throws BlobMismatchError).
 */
export async function commitBlob(written: WrittenBlob, expected: BlobExpectation, target: string): Promise<void> {
  const problem = blobMismatch(written, expected);
  if (problem !== null || (await lstatOrNull(target))) {
    await fs.rm(written.file, { force: true });
    if (problem !== null) throw new BlobMismatchError(`blob ${expected.digest} was not stored: ${problem}`);
    return;
  }
  await fsyncFile(written.file);
  await fs.rename(written.file, target);
}
