/**
 * pypakr's store: content-addressed blobs, an index of images, tags,
 * containers and leases, and (layers.ts) an unpacked-layer cache.
 *
 *   store/blobs/sha256/<hex>   verified content, never rewritten
 *   store/index.json           images, tags, containers, leases (written whole, atomically)
 *   store/tmp/<pid>-<rand>     work in progress of one process
 *   store/lock                 held while the index or the set of blobs changes (lock.ts)
 *
 * As in containerd's content store, a blob is written to tmp, fsynced,
 * verified, then renamed into place, so a killed process never leaves a
 * visible blob that is not what its name says; "already there" is success.
 * Every blob comes in through ingest.ts (a BlobWriter, then commitBlob).
 * Long work (hashing, unpacking) happens outside the lock; only renames and
 * index updates happen under it.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as z from "zod";
import { type Config, type EntryLimits, storeDir, tmpDir } from "../config/index.js";
import { describe, isErrno, PypakrError } from "../util/errors.js";
import { lstatOrNull, processAlive, removeDeadSiblings, removeDeadTemp, treeSize, writeFileAtomic } from "../util/fs.js";
import { readJson } from "../util/json.js";
import { anyTempOwner, storeTempName, storeTempOwner } from "../util/temp-names.js";
import { hexOf, SHA256_DIGEST } from "../util/hash.js";
import { DEFAULT_MAX_ENTRIES, manifestSchema } from "../image/index.js";
import type { WrittenBlob } from "../util/blob-writer.js";
import { commitBlob, type BlobExpectation } from "./ingest.js";
import { acquireLock, LockTimeoutError } from "./lock.js";

export { processAlive, treeSize };

const INDEX_FORMAT_VERSION = 1;
const digest = z.string().regex(SHA256_DIGEST);

const indexSchema = z.object({
  formatVersion: z.literal(INDEX_FORMAT_VERSION),
  images: z.record(digest, z.object({ stored: z.string() })),
  tags: z.record(z.string(), digest),
  /** Containers made from stored images (absolute path -> image), so gc keeps what verify needs. */
  containers: z.record(z.string(), digest),
  /**
   * Images in use by a running process (id -> image and pid), so gc leaves
   * them alone; `target` is the container it is making, whose temporary
   * siblings gc removes once the process is dead.
   */
  leases: z.record(z.string(), z.object({ image: digest, pid: z.number(), target: z.string().optional() })),
});
export type StoreIndex = z.infer<typeof indexSchema>;

export function emptyIndex(): StoreIndex {
  return { formatVersion: INDEX_FORMAT_VERSION, images: {}, tags: {}, containers: {}, leases: {} };
}

/** When the lock a pull holds beside a partial blob counts as left by a dead process. */
export const PARTIAL_LOCK_STALE_MS = 10_000;
/** How long a command waits for the store's lock before giving up. */
const LOCK_TIMEOUT_MS = 60_000;
/** How long a pull waits for another pull of the same blob. */
const PARTIAL_LOCK_TIMEOUT_MS = 15 * 60_000;

/**
 * Locks the partial download `file` (store/partial/HEX) against other pulls,
 * as `FILE.lock`: the store's own lock (lock.ts), so a lock left by a killed
 * pull is taken over at once instead of after PARTIAL_LOCK_STALE_MS. gc
 * (removeIdlePartials) understands both this lock and proper-lockfile's.
 */
export async function lockPartialBlob(file: string): Promise<() => Promise<void>> {
  try {
    return await acquireLock(`${file}.lock`, PARTIAL_LOCK_TIMEOUT_MS);
  } catch (error) {
    if (!(error instanceof LockTimeoutError)) throw error;
    throw new PypakrError(`another pypakr pull has been fetching blob ${path.basename(file)} for too long (${error.message})`, { code: "store-busy", hint: "Wait for the other pull to finish and try again." });
  }
}

export class Store {
  readonly blobsDir: string;
  readonly tmpDir: string;
  readonly layersDir: string;
  /** Blobs a pull is fetching or could not finish: kept so the next pull resumes them. */
  readonly partialDir: string;
  private readonly indexFile: string;
  private readonly lockFile: string;

  /** pypakr's own tmp dir (builds, image reads), which gc also clears of what dead processes left. */
  readonly pypakrTmpDir: string;

  /** Caps on what an image may hold (see Config.limits). */
  limits: EntryLimits = { layerEntries: DEFAULT_MAX_ENTRIES, imageEntries: DEFAULT_MAX_ENTRIES };

  constructor(
    readonly dir: string,
    pypakrTmpDir?: string,
  ) {
    this.pypakrTmpDir = pypakrTmpDir ?? path.join(path.dirname(dir), "tmp");
    this.blobsDir = path.join(dir, "blobs", "sha256");
    this.tmpDir = path.join(dir, "tmp");
    this.layersDir = path.join(dir, "layers", "sha256");
    this.partialDir = path.join(dir, "partial");
    this.indexFile = path.join(dir, "index.json");
    this.lockFile = path.join(dir, "lock");
  }

  /** Opens (making it if need be) the store, first removing what killed processes left in its tmp/. */
  static async open(config: Config): Promise<Store> {
    const store = new Store(storeDir(config), tmpDir(config));
    store.limits = config.limits;
    await Promise.all([store.blobsDir, store.tmpDir, store.layersDir].map((dir) => fs.mkdir(dir, { recursive: true })));
    await store.removeStaleTemp();
    return store;
  }

  blobFile(blob: string): string {
    return path.join(this.blobsDir, hexOf(blob));
  }

  async blobSize(blob: string): Promise<number | undefined> {
    return (await lstatOrNull(this.blobFile(blob)))?.size;
  }

  /** A stored JSON blob (a manifest, a config), parsed through its schema; throws when absent or malformed. */
  async readDocument<T>(blob: string, schema: z.ZodType<T>): Promise<T> {
    return readJson(this.blobFile(blob), schema, { code: "store-damaged", hint: "Run pypakr store verify --repair, then load or build the image again." });
  }

  /** A fresh path under tmp/ that gc knows belongs to this process while it lives. */
  tempPath(purpose: string): string {
    return path.join(this.tmpDir, storeTempName(purpose));
  }

  /**
   * Runs `work` holding the store's lock (lock.ts): a lock whose holder was
   * killed is taken over at once, so a crash never wedges the store.
   */
  async withLock<T>(work: () => Promise<T>): Promise<T> {
    let release: () => Promise<void>;
    try {
      release = await acquireLock(this.lockFile, LOCK_TIMEOUT_MS);
    } catch (error) {
      if (!(error instanceof LockTimeoutError)) {
        throw new PypakrError(`cannot lock the store at ${this.dir}: ${describe(error)}`, { code: "write-failed", hint: "Check that you may write there (permissions, a read-only filesystem).", cause: error });
      }
      throw new PypakrError(`the store at ${this.dir} is locked by another pypakr process that did not finish in time (${error.message})`, {
        code: "store-busy",
        hint: "Wait for the other pypakr command to finish and try again.",
      });
    }
    try {
      return await work();
    } finally {
      await release();
    }
  }

  async readIndex(): Promise<StoreIndex> {
    try {
      return await readJson(this.indexFile, indexSchema, {
        code: "store-damaged",
        message: () => `the store's index ${this.indexFile} is damaged`,
        hint: "Run pypakr store verify --repair to rebuild what can be rebuilt.",
      });
    } catch (error) {
      if (isErrno(error, "ENOENT")) return emptyIndex();
      throw error;
    }
  }

  async writeIndex(index: StoreIndex): Promise<void> {
    await writeFileAtomic(this.indexFile, JSON.stringify(index, null, 1) + "\n");
  }

  /**
   * Reads, changes and writes the index under the lock. An image the change
   * adds must have every blob its manifest names in the store by then: a
   * store whose index names missing blobs is damaged, so such a change (say a
   * pull that found a blob present, which a gc then removed) is refused.
   */
  async updateIndex<T>(change: (index: StoreIndex) => T | Promise<T>): Promise<T> {
    return this.withLock(async () => {
      const index = await this.readIndex();
      const before = new Set(Object.keys(index.images));
      const result = await change(index);
      for (const image of Object.keys(index.images)) if (!before.has(image)) await this.checkComplete(image);
      await this.writeIndex(index);
      return result;
    });
  }

  private async checkComplete(image: string): Promise<void> {
    const missing: string[] = [];
    try {
      const manifest = await this.readDocument(image, manifestSchema);
      for (const blob of [manifest.config.digest, ...manifest.layers.map((layer) => layer.digest)]) if ((await this.blobSize(blob)) === undefined) missing.push(blob);
    } catch {
      missing.push(`its manifest ${image}`);
    }
    if (missing.length === 0) return;
    throw new PypakrError(`image ${image} could not be stored: ${missing.join(", ")} went missing from the store meanwhile (another pypakr rmi or gc freed ${missing.length === 1 ? "it" : "them"})`, {
      code: "concurrent-change",
      hint: "Run the same command again.",
    });
  }

  /**
   * Commits a blob a BlobWriter wrote (ingest.ts) to blobs/ once its size and
   * digest match `expected`. Call under the lock. The file is consumed either way.
   */
  async commitBlob(written: WrittenBlob, expected: BlobExpectation): Promise<void> {
    await commitBlob(written, expected, this.blobFile(expected.digest));
  }

  /**
   * Removes tmp/ entries (tempPath's PID-PURPOSE-RANDOM) of processes that
   * no longer run: what a crash left behind.
   */
  async removeStaleTemp(): Promise<number> {
    return removeDeadTemp(this.tmpDir, (name) => storeTempOwner(name)?.pid ?? null);
  }

  /**
   * Everything killed processes left, for gc: the store's tmp/, temporary
   * siblings of the store's own files, and pypakr's tmp dir (build work envs,
   * scratch, image reads).
   */
  async removeAllStaleTemp(): Promise<number> {
    let freed = await this.removeStaleTemp();
    for (const file of [this.indexFile, this.lockFile, path.join(this.dir, "registry-sources.json")]) freed += await removeDeadSiblings(file);
    freed += await removeDeadTemp(this.pypakrTmpDir, anyTempOwner);
    // Where a build works when pypakr's tmp dir has too long a path.
    freed += await removeDeadTemp(os.tmpdir(), "pypakr-build-");
    return freed;
  }
}
