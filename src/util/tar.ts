import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import tar, { type Header } from "tar-stream";

export type TarHeader = Header;

/** One tar entry: its header and its body, which must be consumed before the next entry. */
export interface TarEntry {
  header: TarHeader;
  body: AsyncIterable<Buffer>;
}

/**
 * Why an archive entry name is unsafe, or null when it is a plain relative path.
 * The rules are PEP 706's `data` filter for names: nothing absolute (also
 * `C:` and `\` forms), no `..`, no NUL. pypakr checks every entry itself rather
 * than trusting the tar library to.
 */
export function unsafeNameReason(name: string): string | null {
  if (name.includes("\0")) return "contains a NUL byte";
  if (name.startsWith("/")) return "is an absolute path";
  if (/^[A-Za-z]:/.test(name)) return "starts with a drive letter";
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

const GZIP_MAGIC = [0x1f, 0x8b];

export async function isGzipFile(file: string): Promise<boolean> {
  const handle = await fs.open(file, "r");
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === GZIP_MAGIC[0] && buffer[1] === GZIP_MAGIC[1];
  } finally {
    await handle.close();
  }
}

/**
 * Iterates the entries of a tar stream (gunzipped first when `gzip`). Errors
 * from the input, the decompressor (including a truncated gzip stream) and
 * the tar parser all surface here.
 */
export async function* readTar(input: Readable, options: { gzip: boolean; onInputHash?: (sha256Hex: string) => void }): AsyncGenerator<TarEntry> {
  const extract = tar.extract();
  // The raw input is hashed as it streams by, so a caller can verify it without reading it twice.
  const hash = options.onInputHash ? createHash("sha256") : null;
  if (hash) input.on("data", (chunk: Buffer) => hash.update(chunk));
  const source = options.gzip ? input.pipe(createGunzip()) : input;
  const fail = (error: Error) => extract.destroy(error);
  input.on("error", fail);
  if (source !== input) source.on("error", fail);
  source.pipe(extract);
  try {
    for await (const entry of extract) {
      yield { header: entry.header, body: entry as AsyncIterable<Buffer> };
      entry.resume();
    }
    if (hash) options.onInputHash?.(hash.digest("hex"));
  } finally {
    input.destroy();
    if (source !== input) source.destroy();
  }
}

/** Iterates a tar file on disk, gzipped or not (told by its magic bytes, not its name). */
export async function* readTarFile(file: string, onInputHash?: (sha256Hex: string) => void): AsyncGenerator<TarEntry> {
  const gzip = await isGzipFile(file);
  yield* readTar(createReadStream(file), { gzip, ...(onInputHash ? { onInputHash } : {}) });
}

export async function readBody(body: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const bytes of body) {
    size += bytes.length;
    if (size > limit) throw new Error(`${what} is larger than ${limit} bytes`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}
