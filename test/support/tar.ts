/**
 * The one tar builder of the tests (as containerd has one `tartest`): layers,
 * source archives, image archives and the hostile corpus's crafted entries
 * are all written here. It has no opinions, so an entry can be wrong in
 * exactly one way: names are written as given (bytes included, no slash
 * added to a directory), a header may declare a size its body does not
 * have, carry any type flag or extra PAX records, and the archive may stop
 * without its end blocks. Every header is ustar with uid, gid and mtime 0,
 * so the same entries always give the same bytes.
 */
import { gunzipSync, gzipSync, zstdDecompressSync } from "node:zlib";
import { layerMediaType } from "../../src/image/compression.js";

export type TarEntryType = "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";

export interface TarEntry {
  /** A string (UTF-8) or raw bytes; longer than 100 bytes goes in a PAX record. */
  name: string | Buffer;
  /** Defaults to "file". A "link" is a hard link to `linkname`; a device is 1,3 (/dev/null's numbers). */
  type?: TarEntryType;
  body?: Buffer | string;
  linkname?: string;
  /** Defaults to 0755 for a directory, 0644 for the rest. */
  mode?: number;
  /** Crafted cases: the header's type flag as written, in place of `type`'s (e.g. "Z", which no reader knows). */
  typeflag?: string;
  /** Crafted cases: the size the header declares, when it is to lie about its body. */
  declaredSize?: number;
  /** Crafted cases: extra PAX records (e.g. a path holding a NUL). */
  pax?: Record<string, string>;
}

export interface TarOptions {
  /** Gzip the whole archive (as a layer blob or a source.tar.gz). */
  gzip?: boolean;
  /** False leaves off the two zero blocks that end an archive, for a truncated one. */
  end?: boolean;
}

/** An OCI whiteout entry: `path` is deleted from the layers below. */
export function whiteout(path: string): TarEntry {
  const slash = path.lastIndexOf("/");
  return { name: `${path.slice(0, slash + 1)}.wh.${path.slice(slash + 1)}` };
}

/** An OCI opaque marker: the layers below contribute nothing under `dir`. */
export function opaque(dir: string): TarEntry {
  return { name: `${dir}/.wh..wh..opq` };
}

const TYPEFLAG: Record<TarEntryType, string> = { file: "0", link: "1", symlink: "2", "character-device": "3", "block-device": "4", directory: "5", fifo: "6" };

function octal(buffer: Buffer, offset: number, length: number, value: number): void {
  buffer.write(`${value.toString(8).padStart(length - 1, "0")}\0`, offset, "latin1");
}

function ustarHeader(name: Buffer, typeflag: string, size: number, mode: number, linkname: Buffer): Buffer {
  const header = Buffer.alloc(512);
  name.copy(header, 0, 0, Math.min(100, name.length));
  octal(header, 100, 8, mode);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  octal(header, 124, 12, size);
  octal(header, 136, 12, 0);
  header.write(typeflag, 156, "latin1");
  linkname.copy(header, 157, 0, Math.min(100, linkname.length));
  header.write("ustar\u000000", 257, "latin1");
  if (typeflag === "3" || typeflag === "4") {
    octal(header, 329, 8, 1);
    octal(header, 337, 8, 3);
  }
  header.fill(" ", 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return header;
}

/** The zeros that fill a body of `size` bytes up to a whole 512-byte block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

function paxRecords(records: Record<string, string | Buffer>): Buffer {
  const parts = Object.entries(records).map(([key, value]) => {
    const text = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from("\n")]);
    let length = text.length + 1;
    while (String(length).length + text.length !== length) length = String(length).length + text.length;
    return Buffer.concat([Buffer.from(String(length)), text]);
  });
  return Buffer.concat(parts);
}

const bytesOf = (value: Buffer | string | undefined): Buffer => (typeof value === "string" ? Buffer.from(value) : (value ?? Buffer.alloc(0)));

/** One entry's header block alone (no PAX record, no body), for a stream a test assembles by hand. */
export function tarHeader(entry: TarEntry): Buffer {
  const type = entry.type ?? "file";
  const mode = entry.mode ?? (type === "directory" ? 0o755 : 0o644);
  const name = Buffer.isBuffer(entry.name) ? entry.name : Buffer.from(entry.name);
  return ustarHeader(name, entry.typeflag ?? TYPEFLAG[type], entry.declaredSize ?? bytesOf(entry.body).length, mode, Buffer.from(entry.linkname ?? ""));
}

/** A tar of `entries` in order, ended by two zero blocks unless `end` is false, gzipped if asked. */
export function tarOf(entries: TarEntry[], options: TarOptions = {}): Buffer {
  const out: Buffer[] = [];
  for (const entry of entries) {
    const body = bytesOf(entry.body);
    const name = Buffer.isBuffer(entry.name) ? entry.name : Buffer.from(entry.name);
    const linkname = Buffer.from(entry.linkname ?? "");
    const pax: Record<string, string | Buffer> = { ...entry.pax };
    if (name.length > 100) pax.path = name;
    if (linkname.length > 100) pax.linkpath = linkname;
    if (Object.keys(pax).length > 0) {
      const records = paxRecords(pax);
      out.push(ustarHeader(Buffer.from("PaxHeader"), "x", records.length, 0o644, Buffer.alloc(0)), records, tarPadding(records.length));
    }
    out.push(tarHeader(entry), body, tarPadding(body.length));
  }
  if (options.end !== false) out.push(Buffer.alloc(1024));
  const tar = Buffer.concat(out);
  return options.gzip ? gzipSync(tar) : tar;
}

const ZSTD_MAGIC = 0xfd2fb528;

/** Whether a layer's bytes are zstd (what pypakr writes by default) rather than gzip, told by the magic number as pypakr tells it. */
function isZstd(layer: Buffer): boolean {
  return layer.length >= 4 && layer.readUInt32LE(0) === ZSTD_MAGIC;
}

/** A layer's tar, whichever codec compressed it. */
export function uncompressedLayer(layer: Buffer): Buffer {
  return isZstd(layer) ? zstdDecompressSync(layer) : gunzipSync(layer);
}

/** The OCI media type for a layer's bytes. */
export function layerMediaTypeOf(layer: Buffer): string {
  return layerMediaType(isZstd(layer) ? "zstd" : "gzip");
}
