import { writeBlobsArchive } from "./archive.js";
import type { Image } from "./reader.js";

/** Writes an image whose blobs are at hand (e.g. in the store) as an archive, atomically. */
export async function saveImage(image: Image, target: string, tag: string | undefined): Promise<number> {
  const blobs = [image.manifestDigest, image.configDigest, ...image.manifest.layers.map((layer) => layer.digest)];
  return writeBlobsArchive(target, image.manifestDigest, blobs.map((digest) => ({ digest, file: image.blobFile(digest) })), tag);
}
