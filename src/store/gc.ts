/**
 * Garbage collection: frees what no tag, container or running process needs.
 * Runs under the store's lock, so it never races a write.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { containerRecordFile } from "../layout/index.js";
import { manifestSchema } from "../image/index.js";
import { removeDeadSiblings, removeDeadTemp, removeTree } from "../util/fs.js";
import { anySiblingOwner, storeTempOwner } from "../util/temp-names.js";
import * as z from "zod";
import { isErrno } from "../util/errors.js";
import { readJson } from "../util/json.js";
import { hexOf, type Digest } from "../util/hash.js";
import { isLockHeld } from "./lock.js";
import { PARTIAL_LOCK_STALE_MS, processAlive, treeSize, type Store, type StoreIndex } from "./store.js";

export interface GcResult {
  freedBytes: number;
  removedImages: string[];
}

/** Just what gc needs of a container's record, so a record of another pypakr version still counts. */
const heldImageSchema = z.object({ image: z.object({ digest: z.string().optional() }).optional() });

/** The image a registered container still holds, or null when it is gone, damaged or holds another. */
async function containerImage(dir: string): Promise<string | null> {
  try {
    const record = await readJson(containerRecordFile(dir), heldImageSchema, { code: "container-damaged" });
    return record.image?.digest ?? null;
  } catch {
    return null;
  }
}

/**
 * Drops registrations of containers that are gone and leases of processes
 * that died; a dead create-container's lease also names the container it was
 * making, whose hidden staging directory goes too.
 */
export async function pruneIndex(index: StoreIndex): Promise<void> {
  for (const [dir, image] of Object.entries(index.containers)) {
    if ((await containerImage(dir)) !== image) delete index.containers[dir];
  }
  for (const [id, lease] of Object.entries(index.leases)) {
    if (processAlive(lease.pid)) continue;
    delete index.leases[id];
    if (lease.target) await removeDeadSiblings(lease.target).catch(() => 0);
  }
}

/** Blobs (and so unpacked layers) the kept images need; an unreadable manifest keeps just itself. */
export async function liveBlobs(store: Store, images: Iterable<string>): Promise<Set<string>> {
  const live = new Set<string>();
  for (const image of images) {
    live.add(image);
    try {
      const manifest = await store.readDocument(image, manifestSchema);
      live.add(manifest.config.digest);
      for (const layer of manifest.layers) live.add(layer.digest);
    } catch {
      // verify reports a missing or damaged manifest; gc only keeps what it can name.
    }
  }
  return live;
}

/**
 * Drops partly downloaded blobs that no pull is fetching now (a pull holds a
 * lock beside each one, and a work dir in tmp/ while it runs), and the locks
 * killed pulls left. They only serve to
 * resume a failed pull, and gc is asked to free space; the next pull starts
 * such a blob afresh.
 */
async function removeIdlePartials(store: Store): Promise<number> {
  let freed = 0;
  // A pull lets go of a blob's lock once it is downloaded, before the store takes
  // it in: while any pull runs, unlocked downloads may be its finished ones.
  const pulling = (await fs.readdir(store.tmpDir).catch(() => [] as string[])).some((name) => {
    const owner = storeTempOwner(name);
    return owner?.purpose === "pull" && processAlive(owner.pid);
  });
  // Half-taken or half-released locks of dead pulls (`.HEX.lock.PURPOSE-PID-RANDOM`).
  freed += await removeDeadTemp(store.partialDir, anySiblingOwner);
  for (const name of await fs.readdir(store.partialDir).catch(() => [])) {
    if (name.startsWith(".")) continue;
    const file = path.join(store.partialDir, name);
    if (name.endsWith(".lock")) {
      if (!(await isLockHeld(file, PARTIAL_LOCK_STALE_MS))) await removeTree(file);
      continue;
    }
    if (pulling || (await isLockHeld(`${file}.lock`, PARTIAL_LOCK_STALE_MS))) continue;
    freed += await treeSize(file);
    await removeTree(file);
  }
  return freed;
}

/**
 * The index is written (without the images no one needs) before any file
 * goes, and an unpacked layer is renamed out of sight before it is deleted,
 * so a gc killed at any point leaves a store that verifies clean: at worst
 * some unneeded blobs stay until the next gc.
 */
export async function collectGarbage(store: Store): Promise<GcResult> {
  return store.withLock(async () => {
    const index = await store.readIndex();
    await pruneIndex(index);
    const keep = new Set<string>([...Object.values(index.tags), ...Object.values(index.containers), ...Object.values(index.leases).map((lease) => lease.image)]);
    const removedImages = Object.keys(index.images).filter((image) => !keep.has(image));
    for (const image of removedImages) delete index.images[image];
    await store.writeIndex(index);
    let freedBytes = await deleteUnneeded(store, index, await fs.readdir(store.layersDir), await fs.readdir(store.blobsDir));
    freedBytes += (await store.removeAllStaleTemp()) + (await removeIdlePartials(store));
    return { freedBytes, removedImages };
  });
}

/**
 * Deletes the unpacked layers, then the blobs, among `layers` and `blobs`
 * (hex names) that no image of `index` needs. Call under the lock, once
 * `index` is written: the index never names a deleted blob, and an unpacked
 * layer is renamed out of sight first, so a kill at any point leaves a store
 * that verifies clean.
 */
async function deleteUnneeded(store: Store, index: StoreIndex, layers: readonly string[], blobs: readonly string[]): Promise<number> {
  const live = await liveBlobs(store, Object.keys(index.images));
  let freedBytes = 0;
  for (const name of layers) {
    if (live.has(`sha256:${name}`)) continue;
    const doomed = store.tempPath("gc");
    try {
      await fs.rename(path.join(store.layersDir, name), doomed);
    } catch (error) {
      if (isErrno(error, "ENOENT")) continue;
      throw error;
    }
    freedBytes += await treeSize(doomed);
    await removeTree(doomed);
  }
  for (const name of blobs) {
    if (live.has(`sha256:${name}`)) continue;
    const file = path.join(store.blobsDir, name);
    freedBytes += await treeSize(file);
    await fs.rm(file, { recursive: true, force: true });
  }
  return freedBytes;
}

/**
 * Undoes what a command added to the store only to fail (create-container
 * of a bad image file): its lease, the image unless something named or used
 * it meanwhile, and those of `blobs` (the ones it brought) no other image
 * needs, with their unpacked layers. The store is left as it was.
 */
export async function forgetAddedImage(store: Store, digest: Digest, blobs: readonly Digest[], leaseId: string): Promise<void> {
  await store.withLock(async () => {
    const index = await store.readIndex();
    delete index.leases[leaseId];
    const named = Object.values(index.tags).includes(digest) || Object.values(index.containers).includes(digest) || Object.values(index.leases).some((lease) => lease.image === digest);
    if (!named) delete index.images[digest];
    await store.writeIndex(index);
    if (named) return;
    const names = blobs.map(hexOf);
    await deleteUnneeded(store, index, names, names);
  });
}

export interface RemoveResult {
  untagged: string[];
  deleted: string[];
  /** Targets left as they were: the image is the last name of, or is, an image that containers use. */
  refused: { ref: string; containers: string[] }[];
  freedBytes: number;
}

/**
 * Removes images by reference, then collects garbage, as `docker rmi` does:
 * a tag while another tag still names the image is only untagged; the last
 * tag of an image, or its digest, removes the image, which needs `force`
 * when containers use it (else nothing about that target changes). Images a
 * running process has leased are only untagged.
 */
export async function removeImages(store: Store, targets: { ref: string; digest: Digest; isTag: boolean }[], force: boolean): Promise<RemoveResult> {
  const untagged: string[] = [];
  const deleted: string[] = [];
  const refused: RemoveResult["refused"] = [];
  await store.updateIndex(async (index) => {
    await pruneIndex(index);
    // An image a running process uses (a container being made from it, a push) stays until that ends; gc frees it then.
    const leased = new Set(Object.values(index.leases).map((lease) => lease.image));
    const untag = (tag: string) => {
      delete index.tags[tag];
      untagged.push(tag);
    };
    for (const target of targets) {
      // Named before the lock was taken: a tag another process moved or removed meanwhile is not this image's any more.
      if (target.isTag && index.tags[target.ref] !== target.digest) continue;
      const tags = Object.entries(index.tags).filter(([, image]) => image === target.digest).map(([tag]) => tag);
      if (target.isTag && tags.some((tag) => tag !== target.ref)) {
        untag(target.ref);
        continue;
      }
      const users = Object.entries(index.containers).filter(([, image]) => image === target.digest).map(([dir]) => dir);
      if (users.length > 0 && !force) {
        refused.push({ ref: target.ref, containers: users.sort() });
        continue;
      }
      for (const tag of tags) untag(tag);
      for (const dir of users) delete index.containers[dir];
      if (index.images[target.digest] && !leased.has(target.digest)) {
        delete index.images[target.digest];
        deleted.push(target.digest);
      }
    }
  });
  const { freedBytes } = await collectGarbage(store);
  return { untagged, deleted, refused, freedBytes };
}

