/**
 * pypakr's store: content-addressed blobs, an index of images, tags,
 * containers and leases, and (layers.ts) an unpacked-layer cache.
 *
 *   store/blobs/sha256/<hex>   verified content, never rewritten
 *   store/index.json           images, tags, containers, leases (written whole, atomically)
 *   store/tmp/<pid>-<rand>     work in progress of one process
 *   store/lock                 held while the index or the set of blobs changes
 *
 * As in containerd's content store, a blob is written to tmp, fsynced,
 * verified, then renamed into place, so a killed process never leaves a
 * visible blob that is not what its name says; "already there" is success.
 * Long work (hashing, unpacking) happens outside the lock; only renames and
 * index updates happen under it.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import lockfile from "proper-lockfile";
import { z } from "zod";
import type { Config } from "../config/config.js";
import { isErrno, PypakrError } from "../util/errors.js";
import { fsyncFile, lstatOrNull, randomSuffix, writeFileAtomic } from "../util/fs.js";
import { hexOf, SHA256_DIGEST, type Digest } from "../util/hash.js";

const INDEX_FORMAT_VERSION = 1;
const digest = z.string().regex(SHA256_DIGEST);

const indexSchema = z.object({
  formatVersion: z.literal(INDEX_FORMAT_VERSION),
  images: z.record(digest, z.object({ stored: z.string() })),
  tags: z.record(z.string(), digest),
  /** Containers made from stored images (absolute path -> image), so gc keeps what verify needs. */
  containers: z.record(z.string(), digest),
  /** Images in use by a running process (id -> image and pid), so gc leaves them alone. */
  leases: z.record(z.string(), z.object({ image: digest, pid: z.number() })),
});
export type StoreIndex = z.infer<typeof indexSchema>;

export function emptyIndex(): StoreIndex {
  return { formatVersion: INDEX_FORMAT_VERSION, images: {}, tags: {}, containers: {}, leases: {} };
}

/** When the lock a pull holds beside a partial blob counts as left by a dead process. */
export const PARTIAL_LOCK_STALE_MS = 10_000;

export class Store {
  readonly blobsDir: string;
  readonly tmpDir: string;
  readonly layersDir: string;
  /** Blobs a pull is fetching or could not finish: kept so the next pull resumes them. */
  readonly partialDir: string;
  private readonly indexFile: string;
  private readonly lockFile: string;

  constructor(readonly dir: string) {
    this.blobsDir = path.join(dir, "blobs", "sha256");
    this.tmpDir = path.join(dir, "tmp");
    this.layersDir = path.join(dir, "layers", "sha256");
    this.partialDir = path.join(dir, "partial");
    this.indexFile = path.join(dir, "index.json");
    this.lockFile = path.join(dir, "lock");
  }

  static async open(config: Config): Promise<Store> {
    const store = new Store(path.join(config.pypakrDir, "store"));
    await Promise.all([store.blobsDir, store.tmpDir, store.layersDir].map((dir) => fs.mkdir(dir, { recursive: true })));
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
    return schema.parse(JSON.parse(await fs.readFile(this.blobFile(blob), "utf8")));
  }

  /** A fresh path under tmp/ that gc knows belongs to this process while it lives. */
  tempPath(purpose: string): string {
    return path.join(this.tmpDir, `${process.pid}-${purpose}-${randomSuffix()}`);
  }

  /**
   * Runs `work` holding the store's lock. The lock is a directory that
   * proper-lockfile refreshes while held and treats as stale when a killed
   * holder stops refreshing it, so a crash never wedges the store.
   */
  async withLock<T>(work: () => Promise<T>): Promise<T> {
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(this.dir, {
        lockfilePath: this.lockFile,
        realpath: false,
        stale: 10_000,
        update: 2_000,
        retries: { retries: 600, factor: 1, minTimeout: 50, maxTimeout: 100, randomize: true },
        onCompromised: () => undefined,
      });
    } catch (error) {
      throw new PypakrError(`the store at ${this.dir} is locked by another pypakr process that did not finish in time (${(error as Error).message})`, {
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
    let text: string;
    try {
      text = await fs.readFile(this.indexFile, "utf8");
    } catch (error) {
      if (isErrno(error, "ENOENT")) return emptyIndex();
      throw error;
    }
    let parsed;
    try {
      parsed = indexSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = null;
    }
    if (!parsed?.success) {
      throw new PypakrError(`the store's index ${this.indexFile} is damaged`, { hint: "Run pypakr store verify --repair to rebuild what can be rebuilt." });
    }
    return parsed.data;
  }

  async writeIndex(index: StoreIndex): Promise<void> {
    await writeFileAtomic(this.indexFile, JSON.stringify(index, null, 1) + "\n");
  }

  /** Reads, changes and writes the index under the lock. */
  async updateIndex<T>(change: (index: StoreIndex) => T | Promise<T>): Promise<T> {
    return this.withLock(async () => {
      const index = await this.readIndex();
      const result = await change(index);
      await this.writeIndex(index);
      return result;
    });
  }

  /**
   * Moves an already verified file (whose sha256 is `blob`) into the store.
   * Call under the lock. The source is consumed either way.
   */
  async adoptVerifiedBlob(blob: Digest, file: string): Promise<void> {
    const target = this.blobFile(blob);
    if (await lstatOrNull(target)) {
      await fs.rm(file, { force: true });
      return;
    }
    await fsyncFile(file);
    await fs.rename(file, target);
  }

  /** Removes tmp/ entries of processes that no longer run (what a crash left behind). */
  async removeStaleTemp(): Promise<number> {
    let freed = 0;
    for (const name of await fs.readdir(this.tmpDir).catch(() => [])) {
      const pid = Number(name.split("-")[0]);
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) continue;
      freed += await treeSize(path.join(this.tmpDir, name));
      await fs.rm(path.join(this.tmpDir, name), { recursive: true, force: true });
    }
    return freed;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrno(error, "EPERM");
  }
}

export async function treeSize(file: string): Promise<number> {
  const stat = await lstatOrNull(file);
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  for (const name of await fs.readdir(file)) total += await treeSize(path.join(file, name));
  return total;
}
