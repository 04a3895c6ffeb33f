/**
 * Writes one layer: a compressed tar made so the same files always give the
 * same bytes (sorted entries, owner 0:0, no user or group names, fixed mtime,
 * the compressor fed the same pieces: see compression.ts). That is what lets
 * a wheel's layer dedupe across images, stores and registries.
 */
import { createWriteStream, readFileSync } from "node:fs";
import * as path from "node:path";
import type { TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Sha256Tap, type Digest } from "../util/hash.js";
import { writeTar, type TarWriter } from "../util/tar.js";
import { compressor, DEFAULT_COMPRESSION, layerMediaType, type Compression } from "./compression.js";
import type { LayerMediaType } from "./media-types.js";
import { canonicalShebang, replaceAll } from "./relocation.js";

export type LayerEntry =
  | { type: "dir"; path: string }
  | { type: "file"; path: string; executable: boolean; source: string; size: number; rewrite?: LayerRewrite }
  | { type: "file"; path: string; executable: boolean; content: Buffer }
  | { type: "symlink"; path: string; link: string }
  | { type: "whiteout"; path: string };

/**
 * A file's path turned from `from` to `to` as it goes into the layer; with
 * `interpreters` (the env's names for its interpreter), a shebang naming one
 * of them also takes its one form (canonicalShebang).
 */
export interface LayerRewrite {
  from: string;
  to: string;
  interpreters?: ReadonlySet<string>;
}

export interface WrittenLayer {
  file: string;
  digest: Digest;
  size: number;
  /** Digest of the uncompressed tar, as OCI configs list in rootfs.diff_ids. */
  diffId: Digest;
  /** tar+zstd or tar+gzip, as the manifest lists it. */
  mediaType: LayerMediaType;
}

/** Entries' mtime: fixed, so layer digests do not depend on when or where a build ran. */
const LAYER_MTIME = new Date(0);
export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_WHITEOUT = ".wh..wh..opq";

/**
 * How many bytes move through the pipeline at a time. Each write to the
 * compressor is a round trip through libuv's thread pool, and the tar packer
 * yields after every 16 KiB by default; megabyte batches cut both by two
 * orders of magnitude. The compressor gets exactly this much at a time (the
 * last batch less), whatever sizes the packer made: deflate's output does
 * not depend on how its input is split, but zstd's can.
 */
const BATCH_BYTES = 1 << 20;
/** Files up to this size are read in one call rather than streamed (one read instead of an open-read-close stream per file). */
const WHOLE_FILE_BYTES = 4 << 20;

/** A Sha256Tap that also cuts its input into BATCH_BYTES pieces, for the compressor. */
class BatchingSha256Tap extends Sha256Tap {
  private chunks: Buffer[] = [];
  private pending = 0;

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    super._transform(chunk, encoding, (error) => {
      if (error) return callback(error);
      this.chunks.push(chunk);
      this.pending += chunk.length;
      if (this.pending >= BATCH_BYTES) {
        const gathered = Buffer.concat(this.chunks, this.pending);
        let offset = 0;
        for (; offset + BATCH_BYTES <= gathered.length; offset += BATCH_BYTES) this.push(gathered.subarray(offset, offset + BATCH_BYTES));
        const rest = gathered.subarray(offset);
        this.chunks = rest.length > 0 ? [rest] : [];
        this.pending = rest.length;
      }
      callback();
    });
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.pending > 0 ? Buffer.concat(this.chunks, this.pending) : undefined);
  }
}

export function whiteoutName(file: string): string {
  const dir = path.posix.dirname(file);
  const name = `${WHITEOUT_PREFIX}${path.posix.basename(file)}`;
  return dir === "." ? name : `${dir}/${name}`;
}

function entryName(entry: LayerEntry): string {
  return entry.type === "whiteout" ? whiteoutName(entry.path) : entry.path;
}

function byName(a: LayerEntry, b: LayerEntry): number {
  const left = entryName(a);
  const right = entryName(b);
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * A file's content, which must still be the size the build saw: a streamed
 * entry fails on a size mismatch, and a read one must not quietly differ.
 * Read synchronously on purpose: the files were just written by the build
 * and sit in the page cache, so a read costs microseconds, while an async
 * readFile is four thread-pool round trips (open, fstat, read, close) that
 * queue behind gzip's work there. Measured on the benchmark's 5,000 files,
 * async reads left the pipeline waiting and cost a quarter more CPU.
 */
function readExpected(file: string, size: number): Buffer {
  const content = readFileSync(file);
  if (content.length !== size) throw new Error(`${file} changed size while its layer was written (${size} -> ${content.length} bytes)`);
  return content;
}

async function addEntry(writer: TarWriter, entry: LayerEntry): Promise<void> {
  const name = entryName(entry);
  switch (entry.type) {
    case "dir":
      return writer.add({ name, type: "directory", mode: 0o755 });
    case "symlink":
      return writer.add({ name, type: "symlink", mode: 0o777, linkname: entry.link });
    case "whiteout":
      return writer.add({ name, type: "file", mode: 0o644, size: 0 });
    case "file": {
      const mode = entry.executable ? 0o755 : 0o644;
      if ("content" in entry) return writer.add({ name, type: "file", mode, size: entry.content.length }, entry.content);
      if (entry.rewrite) {
        const { from, to, interpreters } = entry.rewrite;
        const replaced = replaceAll(readFileSync(entry.source), from, to);
        const content = interpreters ? canonicalShebang(replaced, to, interpreters) : replaced;
        return writer.add({ name, type: "file", mode, size: content.length }, content);
      }
      if (entry.size <= WHOLE_FILE_BYTES) return writer.add({ name, type: "file", mode, size: entry.size }, readExpected(entry.source, entry.size));
      return writer.addFile({ name, type: "file", mode, size: entry.size }, entry.source);
    }
  }
}

export async function writeLayer(entries: LayerEntry[], file: string, compression: Compression = DEFAULT_COMPRESSION): Promise<WrittenLayer> {
  // Room for two batches before the compressor, so the next one is packed while this one is compressed.
  const uncompressed = new BatchingSha256Tap({ readableHighWaterMark: 2 * BATCH_BYTES });
  const compressed = new Sha256Tap();
  await writeTar(
    { mtime: LAYER_MTIME, chunkBytes: BATCH_BYTES },
    (packed) => pipeline(packed, uncompressed, compressor(compression, BATCH_BYTES), compressed, createWriteStream(file, { flags: "wx" })),
    async (writer) => {
      for (const entry of [...entries].sort(byName)) await addEntry(writer, entry);
    },
  );
  return { file, digest: compressed.counter.digest(), size: compressed.counter.size, diffId: uncompressed.counter.digest(), mediaType: layerMediaType(compression.codec) };
}
