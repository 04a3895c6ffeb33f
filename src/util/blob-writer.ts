/**
 * Writing a blob's bytes to a file of its own, hashed and counted as they are
 * written: the writer half of the store's one door (store/ingest.ts commits
 * what it wrote). The file is created exclusively (never one that is there),
 * and an expected size cuts a stream off before its first byte too many (a
 * hostile source could send forever).
 *
 * It lives in util, below every domain folder, because image/ (the archive
 * reader, which copies blobs out of an archive for the store to commit) sits
 * below store/: nothing in it knows about the store's layout or its checks.
 */
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import { lstatOrNull } from "./fs.js";
import { Sha256Counter, type Digest } from "./hash.js";

/** A file a BlobWriter wrote, and the digest and size of its bytes as they were written. */
export interface WrittenBlob {
  readonly file: string;
  readonly digest: Digest;
  readonly size: number;
}

/** A stream longer than the writer's expected size: cut off before the first byte too many was written. */
export class OverlongBlobError extends Error {}

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

  /** Closes the file: what was written, to be committed now or later (the store's commitBlob, store/ingest.ts). */
  async finish(): Promise<WrittenBlob> {
    await this.close();
    return { file: this.file, digest: this.counter.digest(), size: this.counter.size };
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
