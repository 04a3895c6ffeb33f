/**
 * Ordinary images (not pypakr's) to and from a registry, for `pypakr export`:
 * fetching a runtime (OCI or Docker schema 2, through an index or manifest
 * list by platform) into a cache of verified blobs, and pushing an exported
 * image. The same client, checks, resumable downloads and uploads as pull
 * and push; but neither touches the store, whose index is for pypakr images.
 *
 * The cache is content-addressed: cacheDir/blobs/sha256/<hex> holds only
 * blobs whose bytes were verified, moved in whole from cacheDir/partial/
 * (where a cut-off download waits to be resumed); a blob already there is
 * checked again and not fetched, so a second export does not download the
 * runtime again.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { checkDocumentSize, choosePlatformEntry, type Descriptor, isIndexMediaType, MAX_INDEX_DEPTH, notAnOrdinaryImage, type OrdinaryImage, parseOrdinaryConfig, parseOrdinaryManifest, type Platform } from "../image/index.js";
import { lockPartialBlob } from "../store/index.js";
import { writeBlob } from "../util/blob-writer.js";
import { fsyncFile, lstatOrNull, withTempPath } from "../util/fs.js";
import { hexOf, sha256File, SHA256_DIGEST, type Digest } from "../util/hash.js";
import { forEachLimited } from "../util/pool.js";
import { RegistryClient } from "./client.js";
import { downloadWithRetries, fetchManifestDocument } from "./download.js";
import { type BlobBar, transferProgress } from "./progress.js";
import { BlobPusher, DEFAULT_CHUNK_SIZE, parsePushTarget, putManifest, sendBlobs, type TransferOptions, uploadBlob } from "./push.js";
import { formatReference, parseReference, type Reference } from "./reference.js";
import { withoutSecrets } from "./secrets.js";

/** Whether `file` holds the blob's bytes (a damaged copy is deleted, to be fetched again). */
async function hasVerifiedCopy(file: string, blob: { digest: string; size: number }): Promise<boolean> {
  const stat = await lstatOrNull(file);
  if (!stat) return false;
  if (stat.isFile() && stat.size === blob.size && `sha256:${(await sha256File(file)).hex}` === blob.digest) return true;
  await fs.rm(file, { force: true, recursive: true });
  return false;
}

/** The runtime cache: verified blobs, and the partial downloads that lead to them. */
class BlobCache {
  readonly blobsDir: string;
  readonly partialDir: string;

  constructor(cacheDir: string) {
    this.blobsDir = path.join(cacheDir, "blobs", "sha256");
    this.partialDir = path.join(cacheDir, "partial");
  }

  async open(): Promise<void> {
    await fs.mkdir(this.blobsDir, { recursive: true });
    await fs.mkdir(this.partialDir, { recursive: true });
  }

  file(digest: string): string {
    return path.join(this.blobsDir, hexOf(digest));
  }

  /** Keeps a document already verified in memory (a manifest: its bytes hashed to its digest). */
  async keep(digest: Digest, bytes: Buffer): Promise<void> {
    const file = this.file(digest);
    if (await hasVerifiedCopy(file, { digest, size: bytes.length })) return;
    await withTempPath(path.join(this.partialDir, hexOf(digest)), "manifest", async (temp) => {
      await writeBlob(temp, bytes);
      await fsyncFile(temp);
      await fs.rename(temp, file);
    });
  }

  /**
   * Brings the blob into the cache unless a verified copy is there; resolves
   * to the bytes that travelled. Under a per-blob lock: two exports of one
   * runtime must not write one partial file.
   */
  async fetch(client: RegistryClient, ref: Reference, blob: Descriptor, bar: BlobBar): Promise<number> {
    const file = this.file(blob.digest);
    if (await hasVerifiedCopy(file, blob)) return 0;
    const partial = path.join(this.partialDir, hexOf(blob.digest));
    const release = await lockPartialBlob(partial);
    try {
      if (await hasVerifiedCopy(file, blob)) return 0;
      const { travelled } = await downloadWithRetries(client, ref, blob, partial, bar, "Run the same command again: it resumes where this one stopped.");
      await fsyncFile(partial);
      await fs.rename(partial, file);
      return travelled;
    } finally {
      await release().catch(() => undefined);
    }
  }
}

export interface FetchOrdinaryOptions extends TransferOptions {
  /** The platform to choose from an index (and that the image's config must name). */
  platform: Platform;
}

/**
 * Fetches an ordinary image by reference (HOST[:PORT]/REPO[:TAG|@DIGEST])
 * into `cacheDir`: the manifest (through an OCI index or Docker manifest list:
 * the entry for `options.platform`), then the config, checked before any
 * layer travels, then the layers. Every byte is verified against its digest.
 */
export async function fetchOrdinaryImage(refText: string, cacheDir: string, options: FetchOrdinaryOptions): Promise<OrdinaryImage> {
  const ref = parseReference(refText);
  const source = formatReference(ref);
  const refuse = (problem: string) => notAnOrdinaryImage(source, problem);
  return withoutSecrets(async () => {
    const cache = new BlobCache(cacheDir);
    await cache.open();
    const client = new RegistryClient(ref.registry, options);
    const bars = await transferProgress("pull");
    try {
      let document = await fetchManifestDocument(client, ref, source, refuse);
      for (let depth = 1; isIndexMediaType(document.mediaType); depth++) {
        if (depth > MAX_INDEX_DEPTH) throw refuse(`its indexes nest more than ${MAX_INDEX_DEPTH} deep`);
        const entry = choosePlatformEntry(source, document.bytes, options.platform);
        checkDocumentSize(source, "manifest", entry);
        // By digest: fetchManifestDocument checks the bytes hash to it.
        document = await fetchManifestDocument(client, { registry: ref.registry, repository: ref.repository, digest: entry.digest }, source, refuse);
        if (document.bytes.length !== entry.size) throw refuse(`its index gives ${entry.size} bytes for manifest ${entry.digest}, which has ${document.bytes.length}`);
      }
      const manifest = parseOrdinaryManifest(source, document.bytes);
      await cache.keep(document.digest, document.bytes);

      checkDocumentSize(source, "config", manifest.config);
      const configBar = bars.bar(manifest.config.digest.slice(7, 19), manifest.config.size);
      configBar.finish((await cache.fetch(client, ref, manifest.config, configBar)) > 0 ? "done" : "cached");
      const configBytes = await fs.readFile(cache.file(manifest.config.digest));
      const config = parseOrdinaryConfig(source, configBytes, manifest, options.platform);

      const layers = manifest.layers.filter((layer, i, all) => all.findIndex((other) => other.digest === layer.digest) === i);
      await forEachLimited(layers, options.concurrency ?? 3, async (layer) => {
        const bar = bars.bar(layer.digest.slice(7, 19), layer.size);
        const travelled = await cache.fetch(client, ref, layer, bar);
        bar.finish(travelled > 0 ? "done" : "cached");
      });
      return { source, manifestDigest: document.digest, manifest, configBytes, config, blobFile: (digest) => cache.file(digest) };
    } finally {
      bars.stop();
      await client.close();
    }
  });
}

/** An image written elsewhere (the exported one): its manifest's bytes, and each blob it names in a file. */
export interface OrdinaryImageToPush {
  manifestBytes: Buffer;
  manifestMediaType: string;
  blobs: { digest: string; size: number; file: string }[];
}

/**
 * Pushes an already-written ordinary image to `targetText`
 * (HOST[:PORT]/REPO[:TAG]): the blobs the registry lacks (HEAD says which),
 * then the manifest under the tag. Resolves to the manifest's digest and the
 * reference pushed to.
 */
export async function pushOrdinaryImage(targetText: string, image: OrdinaryImageToPush, options: TransferOptions = {}): Promise<{ digest: Digest; reference: string }> {
  const { target, tag } = parsePushTarget(targetText);
  const files = new Map<string, string>();
  for (const blob of image.blobs) {
    // The caller's own values, but each goes into a URL: a bug must not become a request elsewhere.
    if (!SHA256_DIGEST.test(blob.digest)) throw new Error(`cannot push a blob named ${JSON.stringify(blob.digest)} (not a sha256 digest)`);
    files.set(blob.digest, blob.file);
  }
  const blobs = image.blobs.filter((blob, i, all) => all.findIndex((other) => other.digest === blob.digest) === i);
  return withoutSecrets(async () => {
    const client = new RegistryClient(target.registry, options);
    const bars = await transferProgress("push");
    try {
      const pusher = new BlobPusher(client, target, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
      await sendBlobs(blobs, options, bars, async (blob, bar) => ((await pusher.exists(blob)) ? "skipped" : uploadBlob(pusher, blob, files.get(blob.digest) ?? "", bar)));
      bars.stop();
      const digest = await putManifest(client, target, tag, image.manifestBytes, image.manifestMediaType);
      return { digest, reference: formatReference({ ...target, tag }) };
    } finally {
      bars.stop();
      await client.close();
    }
  });
}
