/**
 * How layers are compressed. zstd by default, and every current OCI tool
 * reads it. Level 10, not zstd's own default of 3: an image is built once
 * and pulled and unpacked many times, and on the benchmark's real set
 * (Flask, numpy, pandas: 107 MB of tar) level 10 gives 0.78x gzip's bytes
 * (level 3: 0.91x) at about 22 MB/s per core (level 3: 100 MB/s), while
 * create-image compresses its layers in parallel; unpacking is as fast at
 * any level. gzip stays for old tools; `max` is for release builds, where
 * minutes of compression buy a further tenth off the download.
 *
 * A layer's bytes, and so its digest, depend on the codec, the level and the
 * compressor's own version (the zlib or libzstd built into Node.js). The
 * same source on the same Node.js gives a bit-identical image; a Node.js
 * that bundles another libzstd may not (README, "Same wheel, same layer").
 */
import type { Transform } from "node:stream";
// A namespace import: a named import of a zstd function would fail to link on a Node.js without zstd, before main's version check could say what to do.
import * as zlib from "node:zlib";
import { MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD, type LayerMediaType } from "./media-types.js";
import { usageError } from "../util/errors.js";

export type Codec = "gzip" | "zstd";

export interface Compression {
  codec: Codec;
  level: number;
}

export const DEFAULT_COMPRESSION: Compression = { codec: "zstd", level: 10 };
/** zstd's highest level that needs no more memory to decompress than the others (20-22 are "ultra" levels). */
export const MAX_COMPRESSION: Compression = { codec: "zstd", level: 19 };

const LEVELS: Record<Codec, { min: number; max: number; default: number }> = {
  gzip: { min: 1, max: 9, default: 6 },
  zstd: { min: 1, max: 19, default: DEFAULT_COMPRESSION.level },
};

/** `gzip`, `gzip:LEVEL`, `zstd`, `zstd:LEVEL` or `max`, as --compression takes it. */
export function parseCompression(text: string): Compression {
  if (text === "max") return MAX_COMPRESSION;
  const match = /^(gzip|zstd)(?::(\d{1,2}))?$/.exec(text);
  const codec = match?.[1] as Codec | undefined;
  if (!match || !codec) {
    throw usageError("usage", `--compression ${JSON.stringify(text)} is not a compression`, "Use --compression zstd (the default), zstd:LEVEL (1-19), gzip, gzip:LEVEL (1-9) or max.");
  }
  const range = LEVELS[codec];
  const level = match[2] === undefined ? range.default : Number(match[2]);
  if (level < range.min || level > range.max) {
    throw usageError("usage", `--compression ${text}: ${codec}'s levels are ${range.min} to ${range.max}`, `Use --compression ${codec}:${range.default}, or leave the level out for ${range.default}.`);
  }
  return { codec, level };
}

export function describeCompression(compression: Compression): string {
  return `${compression.codec}:${compression.level}`;
}

export function layerMediaType(codec: Codec): LayerMediaType {
  return codec === "zstd" ? MEDIA_TYPE_LAYER_ZSTD : MEDIA_TYPE_LAYER_GZIP;
}

/**
 * A compressor whose output depends only on its input pieces, the codec and
 * the level (gzip: Node writes no name or time). `chunkSize` is how much it
 * hands on at a time; it does not change the bytes.
 */
export function compressor(compression: Compression, chunkSize: number): Transform {
  if (compression.codec === "gzip") return zlib.createGzip({ level: compression.level, chunkSize });
  return zlib.createZstdCompress({
    chunkSize,
    params: {
      [zlib.constants.ZSTD_c_compressionLevel]: compression.level,
      // A checksum lets a reader catch a corrupted frame; the layer's digest already covers that, and it costs speed.
      [zlib.constants.ZSTD_c_checksumFlag]: 0,
    },
  });
}
