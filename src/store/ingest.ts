/**
 * The one way blob bytes enter the store, shaped like containerd's content
 * writer: bytes go to a file the writer created itself (exclusively, in the
 * store's tmp/ or partial/, so on the blobs' filesystem), hashed and counted
 * as they are written, with an expected size past which a stream is cut off
 * (a hostile source could send forever). Committing checks size and digest
 * against the descriptor, fsyncs, and renames into blobs/; a blob already
 * there is never replaced, since it is what its name says.
 *
 * Committing may come later than writing: a load or a pull first validates
 * the whole image and only then, under the store's lock, commits every blob
 * it wrote (Store.commitBlob). What travels between the two is a WrittenBlob,
 * which only a BlobWriter makes, so the store never takes a file on trust.
 */
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import { fsyncFile, lstatOrNull } from "../util/fs.js";
import { Sha256Counter, type Digest } from "../util/hash.js";

/** What a blob must be: its digest and size, from a descriptor. */
export interface BlobExpectation {
  digest: string;
  size: number;
}

/** A file a BlobWriter wrote, and the digest and size of its bytes as they were written. */
export interface WrittenBlob {
  readonly file: string;
  readonly digest: Digest;
  readonly size: number;
}

/** A stream longer than the writer's expected size: cut off before the first byte too many was written. */
export class OverlongBlobError extends Error {}

/** Written bytes that are not the blob the descriptor names. */
export class BlobMismatchError extends Error {}

export class BlobWriter {
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly handle: fs.FileHandle,
    private counter: Sha256Counter,
    private readonly expectedSize: number | undefined,
  ) {}

  /** A writer into a new file at `file` (refusing to open one that exists). */
  static async create(file: string, options: { expectedSize?: number } = {}): Promise<BlobWriter> {
    return new BlobWriter(file, await fs.open(file, "wx", 0o644), new Sha256Counter(), options.expectedSize);
  }

  /**
   * A writer that appends to what `file` already holds (a download cut off
   * before, kept to be resumed), hashing that first; a file already longer
   * than `expectedSize` cannot be the start of the blob and is started over.
   * Callers hold a lock on `file` (two writers must not share it).
   */
  static async resume(file: string, expectedSize: number): Promise<BlobWriter> {
    const counter = new Sha256Counter();
    if ((await lstatOrNull(file))?.isFile()) {
      for await (const chunk of createReadStream(file)) counter.update(chunk as Buffer);
    }
    const writer = new BlobWriter(file, await fs.open(file, "a", 0o644), counter, expectedSize);
    if (counter.size > expectedSize) await writer.restart();
    return writer;
  }

  /** Bytes written so far (with a resumed file's). */
  get size(): number {
    return this.counter.size;
  }

  /** Drops what was written: the next byte is the blob's first. */
  async restart(): Promise<void> {
    await this.handle.truncate(0);
    this.counter = new Sha256Counter();
  }

  /** Writes one chunk; throws OverlongBlobError, writing none of it, when it would pass the expected size. */
  async write(chunk: Buffer): Promise<void> {
    if (this.expectedSize !== undefined && this.counter.size + chunk.length > this.expectedSize) {
      throw new OverlongBlobError(`more than the ${this.expectedSize} bytes expected`);
    }
    this.counter.update(chunk);
    await this.handle.write(chunk);
  }

  /**
   * Writes a whole stream. Iterated, not piped: when a tar parser destroys an
   * entry's stream (a truncated archive), a pipe from it never settles, while
   * iteration ends at once and the parser's error surfaces.
   */
  async writeAll(body: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of body) await this.write(chunk);
  }

  /** Closes the file: what was written, to be committed now or later (Store.commitBlob). */
  async finish(): Promise<WrittenBlob> {
    await this.close();
    return { file: this.file, digest: this.counter.digest(), size: this.counter.size };
  }

  /** Finishes and commits to `target` (see commitBlob); the file is consumed either way. */
  async commit(expected: BlobExpectation, target: string): Promise<void> {
    await commitBlob(await this.finish(), expected, target);
  }

  /** Closes and removes the file. */
  async abort(): Promise<void> {
    await this.close();
    await fs.rm(this.file, { force: true });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** Writes a blob held in memory (a manifest) to a new file; to be committed later. */
export async function writeBlob(file: string, bytes: Buffer): Promise<WrittenBlob> {
  const writer = await BlobWriter.create(file);
  try {
    await writer.write(bytes);
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return writer.finish();
}

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
