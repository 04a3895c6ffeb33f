/**
 * `pypakr pull`: fetches an image's manifest, then only the blobs the store
 * lacks, verifying each against its digest before anything uses it.
 *
 * Blobs download into store/partial/<hex>, which outlives a failed pull: a
 * pull run again resumes a cut-off blob with a Range request (and skips a
 * finished one), then hashes the whole blob. Bytes that do not match their
 * digest, or a body longer than the descriptor says, are deleted at once.
 * Nothing enters the store proper until the whole image is there and
 * validated (openImage: the pypakr config, sizes, tables); then every blob is
 * moved in and the image recorded and tagged in one index update.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { checkOutputFile, type Config } from "../config/index.js";
import { describeSchemaError } from "../util/json.js";
import { type BlobSource, checkLayers, type Descriptor, type Image, type ImageManifest, manifestSchema, MAX_CONFIG_BYTES, MEDIA_TYPE_MANIFEST, notAnImage, openImage, saveImage } from "../image/index.js";
import { loadImage, lockPartialBlob, recordBlobSources, Store, tagsOf } from "../store/index.js";
import { writeBlob, type WrittenBlob } from "../util/blob-writer.js";
import { lstatOrNull, removeTree } from "../util/fs.js";
import { hexOf, type Digest } from "../util/hash.js";
import { forEachLimited } from "../util/pool.js";
import { RegistryClient } from "./client.js";
import { downloadWithRetries, fetchManifestDocument } from "./download.js";
import { transferProgress, type BlobBar } from "./progress.js";
import type { TransferOptions } from "./push.js";
import { formatReference, localTag, parseReference, type Reference } from "./reference.js";
import { withoutSecrets } from "./secrets.js";

export interface PullOptions extends TransferOptions {
  /** Also write the image as an archive here (as `pypakr save` would). */
  output?: string;
}

export interface PullResult {
  reference: string;
  digest: Digest;
  /** The local tag it was stored under (none for a pull by digest). */
  tag?: string;
  downloaded: number;
  present: number;
  bytesDownloaded: number;
}

/** Fetches and checks the manifest: its bytes must hash to the digest asked for (or that the registry names). */
async function fetchManifest(client: RegistryClient, ref: Reference, source: string): Promise<{ bytes: Buffer; digest: Digest; manifest: ImageManifest }> {
  const { bytes, digest, json, mediaType } = await fetchManifestDocument(client, ref, source, (problem) => notAnImage(source, problem));
  if (mediaType.includes("index") || mediaType.includes("manifest.list")) {
    throw notAnImage(source, "it is a multi-platform index, and a pypakr image has one manifest", "Pull an image that pypakr push put there, or make one with pypakr create-image.");
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw notAnImage(source, `its manifest is not a pypakr image manifest: ${describeSchemaError(parsed.error)}`);
  return { bytes, digest, manifest: parsed.data };
}

function partialFile(store: Store, digest: string): string {
  return path.join(store.partialDir, hexOf(digest));
}

/**
 * One blob into partial/, under a per-blob lock (two pulls of the same blob
 * must not write one file), with retries that resume. The finished file is
 * hard-linked into this pull's `work` dir, so another pull of the same blob
 * may take the store's copy in the meantime without pulling it from under
 * this one. A blob another pull stored while this one waited is not
 * fetched (file: null): the store's copy serves.
 */
async function fetchBlob(store: Store, client: RegistryClient, ref: Reference, blob: Descriptor, bar: BlobBar, work: string): Promise<{ written: WrittenBlob | null; bytes: number }> {
  const file = partialFile(store, blob.digest);
  const release = await lockPartialBlob(file);
  try {
    if ((await store.blobSize(blob.digest)) === blob.size) return { written: null, bytes: 0 };
    const { written, travelled } = await downloadWithRetries(client, ref, blob, file, bar, "Run the same pull again: it resumes where this one stopped.");
    const own = path.join(work, hexOf(blob.digest));
    await fs.link(file, own);
    return { written: { ...written, file: own }, bytes: travelled };
  } finally {
    await release().catch(() => undefined);
  }
}

/** Removes a finished partial download (under its lock, so no other pull is reading it). */
async function dropPartial(store: Store, digest: string): Promise<void> {
  const file = partialFile(store, digest);
  const release = await lockPartialBlob(file);
  try {
    await fs.rm(file, { force: true });
  } finally {
    await release().catch(() => undefined);
  }
}

/** Runs a validation; when it rejects the image, deletes what was downloaded for it (nothing of an unusable image is kept). */
async function forgetIfRejected<T>(store: Store, fetched: Map<string, WrittenBlob>, validate: () => Promise<T>): Promise<T> {
  try {
    return await validate();
  } catch (error) {
    await Promise.all([...fetched.keys()].map((blob) => dropPartial(store, blob)));
    throw error;
  }
}

/** Pulls `refText` (HOST[:PORT]/REPO[:TAG|@DIGEST]) into the store. */
export async function pullImage(config: Config, refText: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(refText);
  const source = formatReference(ref);
  if (options.output) await checkOutputFile(config, path.resolve(options.output), "-o");
  return withoutSecrets(async () => {
    const store = await Store.open(config);
    await fs.mkdir(store.partialDir, { recursive: true });
    const client = new RegistryClient(ref.registry, options);
    const work = store.tempPath("pull");
    await fs.mkdir(work);
    const bars = await transferProgress("pull");
    try {
      const { bytes, digest, manifest } = await fetchManifest(client, ref, source);
      const blobs = [manifest.config, ...manifest.layers].filter((blob, i, all) => all.findIndex((other) => other.digest === blob.digest) === i);
      const fetched = new Map<string, WrittenBlob>([[digest, await writeBlob(path.join(work, hexOf(digest)), bytes)]]);
      const where: BlobSource = {
        size: async (blob) => {
          const written = fetched.get(blob);
          return written ? (await lstatOrNull(written.file))?.size : store.blobSize(blob);
        },
        file: (blob) => fetched.get(blob)?.file ?? store.blobFile(blob),
      };
      const missing: Descriptor[] = [];
      for (const blob of blobs) if ((await store.blobSize(blob.digest)) !== blob.size) missing.push(blob);
      const descriptor: Descriptor = { mediaType: MEDIA_TYPE_MANIFEST, digest, size: bytes.length };
      // What each blob must be when it is committed: the sizes the manifest gives.
      const sizes = new Map<string, number>([[digest, bytes.length], ...blobs.map((blob) => [blob.digest, blob.size] as const)]);

      // The config first and alone: an image pypakr cannot use is refused before any layer travels.
      let bytesDownloaded = 0;
      const config = missing.find((blob) => blob.digest === manifest.config.digest);
      if (config) {
        if (config.size > MAX_CONFIG_BYTES) throw notAnImage(source, `its config is ${config.size} bytes, more than a pypakr config can be`);
        const bar = bars.bar(config.digest.slice(7, 19), config.size);
        const got = await fetchBlob(store, client, ref, config, bar, work);
        bar.finish("done");
        if (got.written) fetched.set(config.digest, got.written);
        bytesDownloaded += got.bytes;
      }
      const pending = new Map(missing.filter((blob) => blob.digest !== manifest.config.digest).map((blob) => [blob.digest, blob]));
      await forgetIfRejected(store, fetched, () =>
        openImage(source, descriptor, {
          // Layers not fetched yet count as present with their stated size; they are checked for real below.
          size: async (blob) => pending.get(blob)?.size ?? where.size(blob),
          file: (blob) => where.file(blob),
        }),
      );

      await forEachLimited(
        [...pending.values()],
        options.concurrency ?? 3,
        async (blob) => {
          const bar = bars.bar(blob.digest.slice(7, 19), blob.size);
          const got = await fetchBlob(store, client, ref, blob, bar, work);
          if (got.written) fetched.set(blob.digest, got.written);
          bytesDownloaded += got.bytes;
          bar.finish("done");
        },
      );
      bars.stop();
      // Layers are checked entry by entry before the store takes them, as load does (see readImageArchive).
      const image = await forgetIfRejected(store, fetched, async () => {
        const opened = await openImage(source, descriptor, where);
        await checkLayers(opened, (blob) => fetched.has(blob), store.limits.layerEntries);
        return opened;
      });
      const tag = localTag(ref);
      await store.updateIndex(async (index) => {
        for (const [blob, written] of fetched) await store.commitBlob(written, { digest: blob, size: sizes.get(blob) ?? -1 });
        index.images[digest] ??= { stored: new Date().toISOString() };
        if (tag) index.tags[tag] = digest;
      });
      // Stored now: the partial downloads have served (the manifest was written straight to work/).
      for (const blob of fetched.keys()) if (blob !== digest) await dropPartial(store, blob);
      await recordBlobSources(store, ref.registry, ref.repository, blobs.map((blob) => blob.digest));
      if (options.output) await writeArchive(store, image, digest, tag, options.output);
      return { reference: source, digest, ...(tag ? { tag } : {}), downloaded: missing.length, present: blobs.length - missing.length, bytesDownloaded };
    } finally {
      bars.stop();
      await client.close();
      await removeTree(work);
    }
  });
}

/** The archive `pypakr save` would write for the same name: tagged with the pulled tag, else the image's first tag. */
async function writeArchive(store: Store, pulled: Image, digest: Digest, tag: string | undefined, output: string): Promise<void> {
  const image = await loadImage(store, digest).catch(() => pulled);
  await saveImage(image, path.resolve(output), tag ?? tagsOf(await store.readIndex(), digest)[0]);
}
