/**
 * The unpacked-layer cache: each layer extracted once, alone, into
 * `layers/sha256/<hex>/tree` with the list of its entries (whiteouts
 * recorded, not applied; each file's sha256 as unpacked) in `entries.json`.
 * Containers are assembled from these trees by link or copy, so making a
 * container no longer decompresses anything. The directory is renamed into
 * place only when complete, so one that exists is whole.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { extractTar, type ListedEntry } from "../image/index.js";
import { RESERVED_NAMES } from "../layout/index.js";
import { isErrno, PypakrError } from "../util/errors.js";
import { lstatOrNull, lstatOrNullSync, removeTree } from "../util/fs.js";
import { readJson } from "../util/json.js";
import { hexOf, sha256File } from "../util/hash.js";
import type { Store } from "./store.js";

export interface UnpackedLayer {
  digest: string;
  tree: string;
  entries: ListedEntry[];
}

function layerDir(store: Store, digest: string): string {
  return path.join(store.layersDir, hexOf(digest));
}

export async function isLayerComplete(store: Store, digest: string): Promise<boolean> {
  return (await lstatOrNull(path.join(layerDir(store, digest), "entries.json"))) !== null;
}

function isListedEntry(value: unknown): value is ListedEntry {
  if (typeof value !== "object" || value === null) return false;
  const entry = value as Record<string, unknown>;
  if (typeof entry.path !== "string") return false;
  switch (entry.type) {
    case "dir":
    case "whiteout":
    case "opaque":
      return true;
    case "symlink":
      return typeof entry.link === "string";
    case "file":
      return typeof entry.executable === "boolean" && typeof entry.size === "number" && typeof entry.sha256 === "string" && (entry.mtimeMs === undefined || typeof entry.mtimeMs === "number");
    default:
      return false;
  }
}

/**
 * `entries.json`: the ListedEntry list extractTar made as it unpacked the
 * layer. Checked by a plain predicate, not an object schema per entry: every
 * container made reads the listing of each of its layers (thousands of
 * entries), and zod's first parse of 5,400 entries took 25 ms, a sixth of
 * the whole command (the bench's generated set).
 */
const listingSchema = z.custom<ListedEntry[]>((value) => Array.isArray(value) && value.every(isListedEntry), "not a list of unpacked entries");

async function readUnpacked(store: Store, digest: string): Promise<UnpackedLayer | null> {
  const dir = layerDir(store, digest);
  let entries: ListedEntry[];
  try {
    entries = await readJson(path.join(dir, "entries.json"), listingSchema, {
      code: "store-damaged",
      message: () => `the unpacked layer ${digest} in the store is damaged`,
      hint: "Run pypakr store verify --repair.",
    });
  } catch (error) {
    if (isErrno(error, "ENOENT")) return null;
    throw error;
  }
  return { digest, tree: path.join(dir, "tree"), entries };
}

/**
 * The layer, unpacked (from the cache, or now). The blob must be in the
 * store and is hashed again while the extractor reads it, so a blob damaged
 * on disk since it was stored is caught here.
 */
export async function unpackLayer(store: Store, digest: string, what: string): Promise<UnpackedLayer> {
  const cached = await readUnpacked(store, digest);
  if (cached) return cached;
  await extractIntoCache(store, digest, store.blobFile(digest), what, true);
  const unpacked = await readUnpacked(store, digest);
  if (!unpacked) throw new PypakrError(`the unpacked layer ${digest} vanished from the store`, { code: "concurrent-change", hint: "Another pypakr gc ran meanwhile; try again." });
  return unpacked;
}

/**
 * Unpacks a layer the store is about to take, from `file`, its copy just
 * verified against `digest`: a load that makes a container next decompresses
 * each new layer once, here, instead of once to check it and again to use
 * it. Extraction refuses what the check would. Returns whether this call
 * made the cache entry (false: it was there, or another process made it), so
 * a load that fails can take back what it added.
 */
export async function unpackVerifiedLayer(store: Store, layer: { digest: string; file: string; what: string }): Promise<boolean> {
  if (await isLayerComplete(store, layer.digest)) return false;
  return extractIntoCache(store, layer.digest, layer.file, layer.what, false);
}

/** Extracts `file` into the cache entry of `digest`, renamed into place whole; false if another process was first. */
async function extractIntoCache(store: Store, digest: string, file: string, what: string, verify: boolean): Promise<boolean> {
  const work = store.tempPath("unpack");
  try {
    await fs.mkdir(path.join(work, "tree"), { recursive: true });
    const listing: ListedEntry[] = [];
    // A blob read from the store is verified as it is read: one damaged on disk since it was stored fails here, and its tree is discarded.
    await extractTar(file, path.join(work, "tree"), { what, whiteouts: "record", listing, reserved: RESERVED_NAMES, maxEntries: store.limits.layerEntries, freshRoot: true, ...(verify ? { expectSha256: hexOf(digest) } : {}) });
    // Containers may hard-link these files; an edit through a link shows as a new mtime (see StaleSourceError).
    // The listing is in archive order, so it may still name a file a later entry replaced (planning drops it the same way).
    // Synchronous: thousands of awaited lstats cost a thread-pool round trip each.
    for (const entry of listing) {
      if (entry.type !== "file") continue;
      const stat = lstatOrNullSync(path.join(work, "tree", entry.path));
      if (stat?.isFile()) entry.mtimeMs = stat.mtimeMs;
    }
    await fs.writeFile(path.join(work, "entries.json"), JSON.stringify(listing));
    try {
      await fs.rename(work, layerDir(store, digest));
      return true;
    } catch (error) {
      // Another process unpacked the same layer first: theirs is as good.
      if (!isErrno(error, "ENOTEMPTY") && !isErrno(error, "EEXIST")) throw error;
      return false;
    }
  } finally {
    await removeTree(work);
  }
}

/** Drops an unpacked layer (e.g. one changed through a hard-linked container); the next use unpacks it again. */
export async function forgetUnpackedLayer(store: Store, digest: string): Promise<void> {
  const doomed = store.tempPath("forget");
  await fs.rename(layerDir(store, digest), doomed).catch(() => undefined);
  await removeTree(doomed);
}

export function isInUnpackedLayer(store: Store, file: string): string | null {
  const relative = path.relative(store.layersDir, file);
  if (relative.startsWith("..") || path.isAbsolute(relative)) return null;
  return `sha256:${relative.split(path.sep)[0] ?? ""}`;
}

/** Files of an unpacked layer whose content no longer matches what was unpacked (edited through a hard link). */
export async function changedLayerFiles(layer: UnpackedLayer): Promise<string[]> {
  const changed: string[] = [];
  for (const entry of layer.entries) {
    if (entry.type !== "file") continue;
    const actual = await sha256File(path.join(layer.tree, entry.path)).catch(() => null);
    if (actual?.hex !== entry.sha256) changed.push(entry.path);
  }
  return changed;
}

