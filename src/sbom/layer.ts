/**
 * A pypakr layer holds one distribution's files as the venv has them, its
 * `*.dist-info/METADATA` among them (lib/pythonX.Y/site-packages/NAME-VERSION.dist-info/METADATA,
 * see src/builder/layers.ts). Reading it means streaming the layer through
 * the decompressor and the tar parser; nothing is written anywhere.
 */
import type { Readable } from "node:stream";
import { MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR } from "../image/index.js";
import { PypakrError } from "../util/errors.js";
import { ArchiveTooLargeError, type ArchiveCodec, inflateLimit, normalizeEntryName, readTar } from "../util/tar.js";
import { parseDistributionMetadata } from "./metadata.js";
import type { DistributionMetadata } from "./types.js";

/** More than any real METADATA (a long README as its description is a few hundred KiB); the fields read are all in the header block at its start. */
export const MAX_METADATA_BYTES = 1024 * 1024;

const METADATA_PATH = /(?:^|\/)[^/]+\.dist-info\/METADATA$/;

function layerCodec(mediaType: string): ArchiveCodec | null {
  if (mediaType.endsWith("+zstd")) return "zstd";
  if (mediaType.endsWith("+gzip") || mediaType === MEDIA_TYPE_DOCKER_LAYER_GZIP) return "gzip";
  if (mediaType === MEDIA_TYPE_LAYER_TAR) return "none";
  return null;
}

/** The first `limit` bytes of a body, the rest read and dropped (a tar entry must be consumed before the next). */
async function readHead(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let kept = 0;
  for await (const chunk of body) {
    if (kept >= limit) continue;
    const piece = chunk.subarray(0, limit - kept);
    chunks.push(piece);
    kept += piece.length;
  }
  return Buffer.concat(chunks);
}

/**
 * The metadata of the distribution a layer holds (its first
 * `*.dist-info/METADATA`), or null when it holds none. The whole stream is
 * read even after the file is found, so that a stream which verifies its
 * bytes at the end (a registry blob checked against its digest) can fail:
 * that error, like a damaged layer's, rejects. `size` (the compressed
 * size, when known) bounds how far the layer may inflate.
 */
export async function readLayerMetadata(stream: Readable, mediaType: string, size?: number): Promise<DistributionMetadata | null> {
  const codec = layerCodec(mediaType);
  if (codec === null) {
    stream.destroy();
    throw new PypakrError(`a layer's media type ${JSON.stringify(mediaType.slice(0, 100))} is not a tar layer`, { code: "image-invalid", hint: "Only tar layers (plain, gzip or zstd) hold a distribution's METADATA." });
  }
  let text: string | null = null;
  try {
    const maxBytes = size === undefined || codec === "none" ? undefined : inflateLimit(size);
    for await (const entry of readTar(stream, { codec, ...(maxBytes !== undefined ? { maxBytes } : {}) })) {
      if (text !== null || entry.header.type !== "file") continue;
      const name = normalizeEntryName(entry.header.name);
      if (!("path" in name) || !METADATA_PATH.test(name.path)) continue;
      text = (await readHead(entry.body, MAX_METADATA_BYTES)).toString("utf8");
    }
  } catch (error) {
    if (error instanceof PypakrError) throw error;
    if (error instanceof ArchiveTooLargeError) throw new PypakrError(`a layer ${error.message}`, { code: "too-large", cause: error });
    throw new PypakrError(`a layer cannot be read: ${(error as Error).message}`, { code: "image-invalid", hint: "The layer is damaged or not a tar archive; push or build the image again.", cause: error });
  }
  return text === null ? null : parseDistributionMetadata(text);
}
