import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import { type Readable, type Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
// A namespace import: see src/image/compression.ts.
import * as zlib from "node:zlib";
import tar, { type Header } from "tar-stream";
import { type Digest, Sha256Counter, Sha256Tap } from "./hash.js";
import { readLimited } from "./read-limited.js";
import { SingleZstdFrame } from "./zstd-frames.js";

export type TarHeader = Header;

/** One tar entry: its header and its body, which must be consumed before the next entry. */
export interface TarEntry {
  header: TarHeader;
  body: AsyncIterable<Buffer>;
}

/** Linux's NAME_MAX, and a whole name that leaves room under PATH_MAX for the directory it is extracted into. */
const MAX_COMPONENT_BYTES = 255;
const MAX_NAME_BYTES = 3072;

/**
 * Why an archive entry name is unsafe, or null when it is a plain relative path.
 * The rules are PEP 706's `data` filter for names: nothing absolute (also
 * `C:` and `\` forms), no `..`, no NUL. pypakr checks every entry itself rather
 * than trusting the tar library to.
 */
export function unsafeNameReason(name: string): string | null {
  if (name.includes("\0")) return "contains a NUL byte";
  // The tar reader decodes names as UTF-8 and turns invalid bytes into U+FFFD: such a name cannot be
  // reproduced as written (wheels and RECORD files are UTF-8), so it is refused rather than renamed.
  if (name.includes("\uFFFD")) return "is not valid UTF-8";
  // Past these the kernel refuses the path anyway (ENAMETOOLONG), with a message about the target, not the archive.
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `is longer than ${MAX_NAME_BYTES} bytes`;
  if (name.split("/").some((part) => Buffer.byteLength(part) > MAX_COMPONENT_BYTES)) return `has a path component longer than ${MAX_COMPONENT_BYTES} bytes`;
  if (name.startsWith("/")) return "is an absolute path";
  // Judged on the first real component: "./C:x" normalizes to "C:x", which must be refused too.
  const first = name.split("/").find((part) => part !== "" && part !== ".");
  if (first !== undefined && /^[A-Za-z]:/.test(first)) return "starts with a drive letter";
  if (name.includes("\\")) return "contains a backslash";
  if (name.split("/").includes("..")) return "contains '..'";
  return null;
}

/**
 * The normalized relative path of an entry ("./a//b/" -> "a/b"), "" for the
 * archive's root, or an error message when the name is unsafe.
 */
export function normalizeEntryName(name: string): { path: string } | { error: string } {
  const reason = unsafeNameReason(name);
  if (reason) return { error: reason };
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  return { path: parts.join("/") };
}

/** How an archive's bytes are compressed, told by their first bytes (RFC 1952's and RFC 8878's magic numbers). */
export type ArchiveCodec = "gzip" | "zstd" | "none";
const MAGIC: Array<{ codec: ArchiveCodec; bytes: number[] }> = [
  { codec: "gzip", bytes: [0x1f, 0x8b] },
  { codec: "zstd", bytes: [0x28, 0xb5, 0x2f, 0xfd] },
];

export async function archiveCodec(file: string): Promise<ArchiveCodec> {
  const handle = await fs.open(file, "r");
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    const head = buffer.subarray(0, bytesRead);
    return MAGIC.find(({ bytes }) => bytes.every((byte, index) => head[index] === byte))?.codec ?? "none";
  } finally {
    await handle.close();
  }
}

/**
 * How much a read or a decompression step hands on at once. Node's defaults
 * (64 KiB reads, 16 KiB of output per step) cost a trip to the thread pool
 * and through each stream per 16 KiB: unpacking a 100 MB layer set spent
 * more time waiting on those hops than decompressing.
 */
const STREAM_CHUNK_BYTES = 1024 * 1024;

/** The stages that turn `codec`'s bytes into tar, in order (none for a plain tar). */
function decompressors(codec: ArchiveCodec): Transform[] {
  if (codec === "gzip") return [zlib.createGunzip({ chunkSize: STREAM_CHUNK_BYTES })];
  if (codec === "zstd") return [new SingleZstdFrame(), zlib.createZstdDecompress({ chunkSize: STREAM_CHUNK_BYTES })];
  return [];
}

/**
 * A compressed archive may unpack to this much whatever its size; past it,
 * to at most MAX_INFLATE_RATIO times its compressed size. Real layers and
 * sources (code, compiled libraries, wheels) stay far below the ratio; a
 * decompression bomb (zeros deflate about 1000:1, and zstd packs them far
 * tighter) is stopped after reading this little, instead of filling the disk
 * or memory.
 */
export const MIN_INFLATE_LIMIT = 256 * 1024 * 1024;
export const MAX_INFLATE_RATIO = 100;

/** An archive that declares or unpacks to more than it may: a decompression bomb or a lie in a header. */
export class ArchiveTooLargeError extends Error {}

/** How many bytes of tar a compressed file of `size` bytes may unpack to. */
export function inflateLimit(size: number): number {
  return Math.max(MIN_INFLATE_LIMIT, MAX_INFLATE_RATIO * size);
}

/**
 * Iterates the entries of a tar stream (decompressed first as `codec` says).
 * Errors from the input, the decompressor (including a truncated stream) and
 * the tar parser all surface here. With `maxBytes`, an entry that declares
 * more, or a stream that unpacks to more, fails with ArchiveTooLargeError.
 */
export async function* readTar(input: Readable, options: { codec: ArchiveCodec; onInputHash?: (sha256Hex: string) => void; maxBytes?: number }): AsyncGenerator<TarEntry> {
  const extract = tar.extract();
  const limit = options.maxBytes;
  // The raw input is hashed as it streams by, so a caller can verify it without reading it twice.
  const hash = options.onInputHash ? new Sha256Counter() : null;
  if (hash) input.on("data", (chunk: Buffer) => hash.update(chunk));
  const stages = decompressors(options.codec);
  const source = stages.reduce<Readable>((from, stage) => from.pipe(stage), input);
  const fail = (error: Error) => extract.destroy(error);
  for (const stream of [input, ...stages]) stream.on("error", fail);
  if (limit !== undefined) {
    let seen = 0;
    source.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) fail(new ArchiveTooLargeError(`unpacks to more than ${limit} bytes${stages.length > 0 ? `, over ${MAX_INFLATE_RATIO} times its compressed size (a decompression bomb?)` : ""}`));
    });
  }
  source.pipe(extract);
  try {
    for await (const entry of extract) {
      // A header may declare any size (up to 8 GiB in octal, more in a PAX record); say so before reading it.
      if (limit !== undefined && (entry.header.size ?? 0) > limit) {
        throw new ArchiveTooLargeError(`declares the entry "${entry.header.name}" to be ${entry.header.size ?? 0} bytes, more than it can hold (${limit})`);
      }
      yield { header: entry.header, body: entry as AsyncIterable<Buffer> };
      entry.resume();
    }
    if (hash) options.onInputHash?.(hash.hex());
  } finally {
    for (const stream of [input, ...stages]) stream.destroy();
  }
}

/** Iterates a tar file on disk, plain, gzipped or zstd-compressed (told by its magic bytes, not its name). */
export async function* readTarFile(file: string, onInputHash?: (sha256Hex: string) => void): AsyncGenerator<TarEntry> {
  const codec = await archiveCodec(file);
  // A plain tar holds no more than its size (one that declares more is cut short, and fails as such).
  const maxBytes = codec === "none" ? undefined : inflateLimit((await fs.stat(file)).size);
  yield* readTar(createReadStream(file, { highWaterMark: STREAM_CHUNK_BYTES }), { codec, ...(maxBytes !== undefined ? { maxBytes } : {}), ...(onInputHash ? { onInputHash } : {}) });
}

/** An entry's whole body, refused past `limit` bytes (see readLimited). */
export async function readBody(body: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  return readLimited(body, limit, () => new Error(`${what} is larger than ${limit} bytes`));
}

/** A header pypakr writes: owner, group and time are the writer's, the same for every entry. */
export type WrittenHeader = { name: string; type: "file" | "directory" | "symlink"; mode: number; size?: number; linkname?: string };

/**
 * Entries into a deterministic tar: every one owned by 0:0, with no user or
 * group names and one fixed mtime, so the same entries make the same bytes.
 * Layers and image archives are both written through it (see writeTar).
 */
export class TarWriter {
  constructor(
    private readonly pack: tar.Pack,
    private readonly mtime: Date,
    private readonly chunkBytes: number,
  ) {}

  private header(header: WrittenHeader): Partial<Header> & { name: string } {
    return { ...header, mtime: this.mtime, uid: 0, gid: 0, uname: "", gname: "" };
  }

  /** An entry with `body` (none for a directory, a link or an empty file), resolved once it is packed. */
  add(header: WrittenHeader, body?: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => this.pack.entry(this.header(header), body ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve())));
  }

  /** A file entry whose body is streamed from `file`, which must hold `header.size` bytes (a mismatch fails the entry). */
  addFile(header: WrittenHeader, file: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sink = this.pack.entry(this.header(header), (error) => (error ? reject(error) : resolve()));
      pipeline(createReadStream(file, { highWaterMark: this.chunkBytes }), sink as unknown as NodeJS.WritableStream).catch(reject);
    });
  }
}

/**
 * Writes a tar: `fill` adds the entries while `sink` carries the stream on
 * (compressing, hashing, writing a file). A failing `fill` fails the sink, so
 * no half-written tar is taken for a whole one. `chunkBytes`: the pieces the
 * tar is packed and read in (megabytes cost far fewer calls than the streams'
 * default 16-64 KiB).
 */
export async function writeTar(options: { mtime: Date; chunkBytes: number }, sink: (packed: tar.Pack) => Promise<void>, fill: (writer: TarWriter) => Promise<void>): Promise<void> {
  const pack = tar.pack({ highWaterMark: options.chunkBytes });
  const done = sink(pack);
  try {
    await fill(new TarWriter(pack, options.mtime, options.chunkBytes));
    pack.finalize();
  } catch (error) {
    pack.destroy(error as Error);
  }
  await done;
}

/**
 * The tar inside a layer file (plain, gzip or zstd): its digest and size
 * (what an OCI config lists as the layer's diff_id), and, with `target`, a
 * copy of it there (a Docker archive holds layers uncompressed). Held to the
 * same inflation limit as reading, so a bomb stops early.
 */
export async function decompressLayer(file: string, target: string | null): Promise<{ digest: Digest; size: number }> {
  const codec = await archiveCodec(file);
  const limit = codec === "none" ? Infinity : inflateLimit((await fs.stat(file)).size);
  const tap = new Sha256Tap();
  let seen = 0;
  tap.on("data", (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit) tap.destroy(new ArchiveTooLargeError(`unpacks to more than ${limit} bytes, over ${MAX_INFLATE_RATIO} times its compressed size (a decompression bomb?)`));
  });
  const sink = target === null ? new Writable({ write: (_chunk, _encoding, callback) => callback() }) : createWriteStream(target, { flags: "wx" });
  await pipeline([createReadStream(file, { highWaterMark: STREAM_CHUNK_BYTES }), ...decompressors(codec), tap, sink]);
  return { digest: tap.counter.digest(), size: tap.counter.size };
}
