/**
 * Writes one layer: a tar+gzip made so the same files always give the same
 * bytes (sorted entries, owner 0:0, no user or group names, fixed mtime, gzip
 * without name or timestamp). That is what lets a wheel's layer dedupe across
 * images, stores and registries.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { PassThrough, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar, { type Header } from "tar-stream";

type EntryHeader = Partial<Header> & { name: string };
import type { Digest } from "../util/hash.js";
import { replaceAll } from "./relocation.js";

export type LayerEntry =
  | { type: "dir"; path: string }
  | { type: "file"; path: string; executable: boolean; source: string; size: number; rewrite?: { from: string; to: string } }
  | { type: "file"; path: string; executable: boolean; content: Buffer }
  | { type: "symlink"; path: string; link: string }
  | { type: "whiteout"; path: string };

export interface WrittenLayer {
  file: string;
  digest: Digest;
  size: number;
  /** Digest of the uncompressed tar, as OCI configs list in rootfs.diff_ids. */
  diffId: Digest;
}

/** Entries' mtime: fixed, so layer digests do not depend on when or where a build ran. */
const LAYER_MTIME = new Date(0);
export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_WHITEOUT = ".wh..wh..opq";

class DigestTap extends Transform {
  private readonly hash = createHash("sha256");
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  digest(): Digest {
    return `sha256:${this.hash.digest("hex")}`;
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

async function addEntry(pack: tar.Pack, entry: LayerEntry): Promise<void> {
  const common = { name: entryName(entry), mtime: LAYER_MTIME, uid: 0, gid: 0, uname: "", gname: "" };
  const add = (header: EntryHeader, body?: Buffer) =>
    new Promise<void>((resolve, reject) => pack.entry(header, body ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve())));
  switch (entry.type) {
    case "dir":
      return add({ ...common, type: "directory", mode: 0o755 });
    case "symlink":
      return add({ ...common, type: "symlink", mode: 0o777, linkname: entry.link });
    case "whiteout":
      return add({ ...common, type: "file", mode: 0o644, size: 0 });
    case "file": {
      const mode = entry.executable ? 0o755 : 0o644;
      if ("content" in entry) return add({ ...common, type: "file", mode, size: entry.content.length }, entry.content);
      if (entry.rewrite) {
        const content = replaceAll(await readFile(entry.source), entry.rewrite.from, entry.rewrite.to);
        return add({ ...common, type: "file", mode, size: content.length }, content);
      }
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...common, type: "file", mode, size: entry.size }, (error) => (error ? reject(error) : resolve()));
        pipeline(createReadStream(entry.source), sink as unknown as NodeJS.WritableStream).catch(reject);
      });
    }
  }
}

export async function writeLayer(entries: LayerEntry[], file: string): Promise<WrittenLayer> {
  const pack = tar.pack();
  const uncompressed = new DigestTap();
  const compressed = new DigestTap();
  const done = pipeline(pack, uncompressed, createGzip({ level: 6 }), compressed, new PassThrough(), createWriteStream(file, { flags: "wx" }));
  try {
    for (const entry of [...entries].sort(byName)) await addEntry(pack, entry);
    pack.finalize();
  } catch (error) {
    pack.destroy(error as Error);
  }
  await done;
  return { file, digest: compressed.digest(), size: compressed.size, diffId: uncompressed.digest() };
}
