/**
 * Images in the store: adding them from an archive, naming them (tags and
 * digests, short ones too), loading them, and leases that keep an image
 * from gc while a process uses it.
 */
import * as fs from "node:fs/promises";
import { type Descriptor, digestPrefix, fullDigest, type Image, isImageName, looksLikeDigest, MEDIA_TYPE_MANIFEST, openImage, readImageArchive } from "../image/index.js";
import { PypakrError, usageError } from "../util/errors.js";
import { lstatOrNull, removeTree } from "../util/fs.js";
import type { Digest } from "../util/hash.js";
import { randomSuffix } from "../util/temp-names.js";
import { forgetUnpackedLayer, unpackVerifiedLayer } from "./layers.js";
import type { Store, StoreIndex } from "./store.js";

/** `name` means `name:latest`, as in Docker; a colon before the last "/" is a registry's port, not a tag. */
export function normalizeTag(tag: string): string {
  if (!isImageName(tag)) throw usageError("bad-image-name", `"${tag}" is not a valid image name`, "Use lowercase [HOST[:PORT]/]NAME[:TAG], e.g. myapp:1.0 or 127.0.0.1:5000/myapp:1.0");
  return tag.slice(tag.lastIndexOf("/") + 1).includes(":") ? tag : `${tag}:latest`;
}

export function tagsOf(index: { tags: Record<string, string> }, image: string): string[] {
  return Object.entries(index.tags)
    .filter(([, digest]) => digest === image)
    .map(([tag]) => tag)
    .sort();
}

/** A stored image as a reference named it: by `tag` (normalized), or by digest (`tag` null). */
export interface NamedImage {
  digest: Digest;
  tag: string | null;
}

/**
 * The image a reference names: a full digest (`sha256:` optional), a unique
 * digest prefix (4+ hex digits), or a tag. `fileToo`: the command also takes
 * an image file, so a name that is neither is said to be no file either (rmi
 * and save take stored images only, and must not suggest a path).
 */
export async function findImage(store: Pick<Store, "readIndex">, ref: string, options: { fileToo?: boolean } = {}): Promise<NamedImage> {
  const index = await store.readIndex();
  const listHint = "pypakr images lists the stored images, by tag and digest.";
  const full = fullDigest(ref);
  if (full) {
    if (index.images[full]) return { digest: full, tag: null };
    throw new PypakrError(`no image ${full} in the store`, { code: "image-not-found", hint: options.fileToo ? "pypakr images lists what is there; pypakr load -i IMAGE.tar adds one." : listHint });
  }
  const prefix = digestPrefix(ref);
  if (prefix) {
    const matches = Object.keys(index.images).filter((digest) => digest.startsWith(`sha256:${prefix}`));
    if (matches.length === 1) return { digest: matches[0] as Digest, tag: null };
    if (matches.length > 1) throw new PypakrError(`"${ref}" matches ${matches.length} images`, { code: "image-ambiguous", hint: "Give more digits of the digest." });
  }
  const tag = isImageName(ref) ? normalizeTag(ref) : null;
  const digest = tag ? index.tags[tag] : undefined;
  if (tag && digest) return { digest: digest as Digest, tag };
  if (!options.fileToo) throw new PypakrError(`no image "${ref}" in the store`, { code: "image-not-found", hint: listHint });
  throw new PypakrError(`no image "${ref}" in the store, and no file by that name`, { code: "image-not-found", hint: "pypakr images lists stored images; or pass the path of an image file." });
}

/** The digest of the image a reference names (see findImage). */
export async function resolveRef(store: Pick<Store, "readIndex">, ref: string, options: { fileToo?: boolean } = {}): Promise<Digest> {
  return (await findImage(store, ref, options)).digest;
}

/**
 * What an image argument names: an existing file is an image file; a string
 * that fits the tag or digest grammar is a stored image; anything else is a
 * file that is not there.
 */
export async function imageArgument(arg: string): Promise<"file" | "ref"> {
  if ((await lstatOrNull(arg))?.isFile()) return "file";
  if (isImageName(arg) || looksLikeDigest(arg)) return "ref";
  throw new PypakrError(`image file ${arg} does not exist`, { code: "image-file-not-found", hint: "Check the path, or name a stored image by tag or digest (pypakr images lists them)." });
}

/** Loads and validates a stored image. */
export async function loadImage(store: Store, digest: Digest): Promise<Image> {
  const size = await store.blobSize(digest);
  if (size === undefined) throw new PypakrError(`the store lacks the manifest of image ${digest}`, { code: "store-damaged", hint: "Run pypakr store verify --repair, then load or build the image again." });
  const index = await store.readIndex();
  const tag = Object.entries(index.tags).find(([, image]) => image === digest)?.[0];
  const descriptor: Descriptor = { mediaType: MEDIA_TYPE_MANIFEST, digest, size, ...(tag ? { annotations: { "org.opencontainers.image.ref.name": tag } } : {}) };
  return openImage(tag ?? digest, descriptor, { size: (blob) => store.blobSize(blob), file: (blob) => store.blobFile(blob) });
}

/**
 * Reads an image archive into the store: blobs it lacks are verified while
 * they are copied into tmp/, then moved into place under the lock, where the image is
 * recorded and tagged (with `tag`, else the archive's own ref name if any).
 * With `unpack`, each new layer is checked by unpacking it into the layer
 * cache, for a container about to be made (see unpackVerifiedLayer); a load
 * that fails takes those back.
 */
export async function addImageArchive(
  store: Store,
  file: string,
  options: { tag?: string; keepArchiveTag?: boolean; lease?: boolean; leaseTarget?: string; rereadAll?: boolean; unpack?: boolean } = {},
): Promise<{ digest: Digest; tags: string[]; lease?: Lease; added?: Digest[] }> {
  const work = store.tempPath("load");
  await fs.mkdir(work);
  const unpacked: string[] = [];
  try {
    // Blobs the store holds are not read from the archive again (see readImageArchive).
    const known = new Set<Digest>();
    const image = await readImageArchive(file, work, {
      ...(options.unpack
        ? {
            checkLayer: async (layer) => {
              if (await unpackVerifiedLayer(store, layer)) unpacked.push(layer.digest);
            },
          }
        : {}),
      maxEntries: store.limits.layerEntries,
      known: async (digest) => {
        if (options.rereadAll) return undefined;
        const size = await store.blobSize(digest);
        if (size === undefined) return undefined;
        known.add(digest);
        return { file: store.blobFile(digest), size };
      },
    });
    // Each blob with the size its descriptor gives, which the commit checks again.
    const sizes = new Map<Digest, number>([[image.manifestDigest, image.manifestSize], [image.configDigest, image.manifest.config.size], ...image.manifest.layers.map((layer) => [layer.digest as Digest, layer.size] as const)]);
    const tag = options.tag ?? (options.keepArchiveTag && image.tag ? normalizeTagOrNull(image.tag) : undefined);
    // Before the lock: commitBlob's own fsync, one blob after another under it, then finds nothing left to write.
    await image.flushed;
    const added = await store.updateIndex(async (index) => {
      const isNew = !index.images[image.manifestDigest];
      const newBlobs: Digest[] = [];
      for (const [blob, size] of sizes) {
        if (!known.has(blob) && (await store.blobSize(blob)) === undefined) newBlobs.push(blob);
        const written = known.has(blob) ? undefined : image.written(blob);
        if (written) await store.commitBlob(written, { digest: blob, size });
        else if ((await store.blobSize(blob)) === undefined) return null;
      }
      index.images[image.manifestDigest] ??= { stored: new Date().toISOString() };
      if (tag) index.tags[tag] = image.manifestDigest;
      // Leased in the same update that records it, so no gc can slip in between.
      const lease = options.lease ? addLease(store, index, image.manifestDigest, options.leaseTarget) : undefined;
      return { digest: image.manifestDigest, tags: tagsOf(index, image.manifestDigest), ...(lease ? { lease } : {}), ...(isNew ? { added: newBlobs } : {}) };
    });
    // A gc removed a blob it had no use for while the archive was read: read it all.
    return added ?? (await addImageArchive(store, file, { ...options, rereadAll: true }));
  } catch (error) {
    // Unpacked layers whose blob the store did not take are of no use to anything.
    for (const digest of unpacked) if ((await store.blobSize(digest)) === undefined) await forgetUnpackedLayer(store, digest);
    throw error;
  } finally {
    await removeTree(work);
  }
}

function normalizeTagOrNull(tag: string): string | undefined {
  try {
    return normalizeTag(tag);
  } catch {
    return undefined;
  }
}

export interface Lease {
  id: string;
  /** Ends the lease on its own (see also the id, to end it inside another index update). */
  release(): Promise<void>;
}

function addLease(store: Store, index: StoreIndex, image: Digest, target?: string): Lease {
  const id = `${process.pid}-${randomSuffix()}`;
  index.leases[id] = { image, pid: process.pid, ...(target ? { target } : {}) };
  return {
    id,
    release: () =>
      store.updateIndex((current) => {
        delete current.leases[id];
      }),
  };
}

/**
 * The image an argument names (a file is loaded first), leased against gc
 * until released or this process dies. Naming and leasing happen in one
 * index update, so the image cannot vanish in between. `target`, the
 * container being made, is recorded with the lease so that gc can clear what
 * a killed create-container left beside it.
 */
export async function acquireImage(store: Store, arg: string, target?: string): Promise<{ digest: Digest; lease: Lease; added?: Digest[] }> {
  if ((await imageArgument(arg)) === "file") {
    const loaded = await addImageArchive(store, arg, { lease: true, unpack: true, ...(target ? { leaseTarget: target } : {}) });
    return { digest: loaded.digest, lease: loaded.lease as Lease, ...(loaded.added ? { added: loaded.added } : {}) };
  }
  const digest = await resolveRef(store, arg, { fileToo: true });
  return store.updateIndex((index) => {
    if (!index.images[digest]) throw new PypakrError(`image ${arg} was removed from the store just now`, { code: "concurrent-change", hint: "Another pypakr rmi or gc ran meanwhile; build or load it again." });
    return { digest, lease: addLease(store, index, digest, target) };
  });
}
