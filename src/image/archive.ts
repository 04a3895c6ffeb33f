/**
 * The oci-archive form of an image: one tar holding `oci-layout`,
 * `index.json` and `blobs/sha256/*`, as skopeo and oras read it.
 */
import { createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { fsyncFile, withTempPath } from "../util/fs.js";
import { writeTar } from "../util/tar.js";
import { hexOf, sha256Digest, type Digest } from "../util/hash.js";
import type { ImageConfig, ImageManifest } from "./format.js";
import { ANNOTATION_PYPAKR_FORMAT, ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, OCI_LAYOUT_VERSION, PYPAKR_FORMAT_VERSION } from "./media-types.js";
import type { WrittenLayer } from "./layer-writer.js";

const ARCHIVE_MTIME = new Date(0);
const COPY_BYTES = 1 << 20;

export interface WrittenImage {
  manifestDigest: Digest;
  configDigest: Digest;
  manifest: ImageManifest;
  /** Total bytes of the archive file. */
  archiveSize: number;
}

/** The manifest and config documents, as the exact bytes their digests name. */
export function imageDocuments(config: ImageConfig, layers: WrittenLayer[]): { configBytes: Buffer; manifestBytes: Buffer; manifest: ImageManifest } {
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    config: { mediaType: MEDIA_TYPE_CONFIG, digest: sha256Digest(configBytes), size: configBytes.length },
    layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
    annotations: { [ANNOTATION_PYPAKR_FORMAT]: String(PYPAKR_FORMAT_VERSION) },
  };
  return { configBytes, manifestBytes: Buffer.from(JSON.stringify(manifest)), manifest };
}

/** A blob to put in an archive: its bytes, or a file holding them. */
export type ArchiveBlob = { digest: string; bytes: Buffer } | { digest: string; file: string };

/** Writes the archive beside `target` and renames it into place only when complete. */
export async function writeImageArchive(target: string, config: ImageConfig, layers: WrittenLayer[], tag?: string): Promise<WrittenImage> {
  const { configBytes, manifestBytes, manifest } = imageDocuments(config, layers);
  const manifestDigest = sha256Digest(manifestBytes);
  const blobs: ArchiveBlob[] = [
    { digest: manifestDigest, bytes: manifestBytes },
    { digest: manifest.config.digest, bytes: configBytes },
    ...layers.map((layer) => ({ digest: layer.digest, file: layer.file })),
  ];
  const archiveSize = await writeBlobsArchive(target, manifestDigest, blobs, tag);
  return { manifestDigest, configDigest: manifest.config.digest as Digest, manifest, archiveSize };
}

/**
 * Writes an oci-archive of the image whose manifest is `manifestDigest` (one
 * of `blobs`), deterministically: the same blobs and tag give the same bytes,
 * whether from a build or from the store. Returns the archive's size.
 */
export async function writeBlobsArchive(target: string, manifestDigest: string, blobs: ArchiveBlob[], tag?: string): Promise<number> {
  const sized = await Promise.all(blobs.map(async (blob) => ({ ...blob, size: "bytes" in blob ? blob.bytes.length : (await fs.stat(blob.file)).size })));
  const byDigest = new Map(sized.map((blob) => [blob.digest, blob]));
  const manifestSize = byDigest.get(manifestDigest)?.size ?? 0;
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_INDEX,
    manifests: [{ mediaType: MEDIA_TYPE_MANIFEST, digest: manifestDigest, size: manifestSize, ...(tag ? { annotations: { [ANNOTATION_REF_NAME]: tag } } : {}) }],
  };
  return withTempPath(target, "tmp", async (temp) => {
    // Megabyte pieces: copying the layers in the streams' default 64 KiB
    // (and the packer's 16 KiB) took twice the time, in reads, writes and callbacks.
    await writeTar(
      { mtime: ARCHIVE_MTIME, chunkBytes: COPY_BYTES },
      (packed) => pipeline(packed, createWriteStream(temp, { flags: "wx" })),
      async (writer) => {
        const file = (name: string, size: number) => ({ name, type: "file" as const, mode: 0o644, size });
        const add = (name: string, bytes: Buffer) => writer.add(file(name, bytes.length), bytes);
        await add("oci-layout", Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION })));
        await add("index.json", Buffer.from(JSON.stringify(index)));
        await writer.add({ name: "blobs/", type: "directory", mode: 0o755 });
        await writer.add({ name: "blobs/sha256/", type: "directory", mode: 0o755 });
        for (const digest of [...byDigest.keys()].sort()) {
          const blob = byDigest.get(digest);
          const name = `blobs/sha256/${hexOf(digest)}`;
          if (!blob) continue;
          if ("bytes" in blob) await add(name, blob.bytes);
          else await writer.addFile(file(name, blob.size), blob.file);
        }
      },
    );
    await fsyncFile(temp);
    const { size } = await fs.stat(temp);
    await fs.rename(temp, target);
    return size;
  });
}
