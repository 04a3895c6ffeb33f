/**
 * `pypakr store verify`: re-hashes every blob and checks every image, tag
 * and unpacked layer; with `repair`, removes what is damaged so the store is
 * consistent again (a damaged image must then be loaded or built again).
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { manifestSchema } from "../image/index.js";
import { sha256File } from "../util/hash.js";
import { lstatOrNull, removeTree } from "../util/fs.js";
import { show } from "../util/printable.js";
import { changedLayerFiles, isLayerComplete, unpackLayer } from "./layers.js";
import { emptyIndex, type Store } from "./store.js";

export interface VerifyResult {
  checkedBlobs: number;
  problems: string[];
  repaired: boolean;
}

export async function verifyStore(store: Store, options: { repair: boolean }): Promise<VerifyResult> {
  return store.withLock(async () => {
    const problems: string[] = [];
    const index = await store.readIndex().catch(async (error: Error) => {
      problems.push(error.message);
      const fresh = emptyIndex();
      if (options.repair) await store.writeIndex(fresh);
      return fresh;
    });
    const names = await fs.readdir(store.blobsDir);
    for (const name of names) {
      const file = path.join(store.blobsDir, name);
      const { hex } = await sha256File(file);
      if (hex === name) continue;
      problems.push(`blob ${show(`sha256:${name}`)} is corrupt (its content hashes to sha256:${hex})`);
      if (options.repair) await fs.rm(file, { force: true });
    }
    for (const image of Object.keys(index.images)) {
      const missing = await missingBlobs(store, image);
      if (missing.length === 0) continue;
      problems.push(`image ${show(image)} lacks ${missing.join(", ")}`);
      if (options.repair) {
        delete index.images[image];
        for (const [tag, target] of Object.entries(index.tags)) if (target === image) delete index.tags[tag];
      }
    }
    for (const [tag, image] of Object.entries(index.tags)) {
      if (index.images[image]) continue;
      problems.push(`tag ${show(tag)} names ${show(image)}, which the store does not hold`);
      if (options.repair) delete index.tags[tag];
    }
    for (const name of await fs.readdir(store.layersDir)) {
      const digest = `sha256:${name}`;
      const problem = !(await isLayerComplete(store, digest))
        ? "is incomplete"
        : await unpackLayer(store, digest, digest).then(async (layer) => {
            const changed = await changedLayerFiles(layer);
            return changed.length === 0 ? null : `has files changed since unpacking (edited through a hard-linked container?): ${changed.slice(0, 5).map(show).join(", ")}${changed.length > 5 ? ", ..." : ""}`;
          });
      if (!problem) continue;
      problems.push(`unpacked layer ${show(digest)} ${problem}`);
      if (options.repair) {
        // Out of sight first: a half-removed tree must never look like a complete layer.
        const doomed = store.tempPath("repair");
        await fs.rename(path.join(store.layersDir, name), doomed);
        await removeTree(doomed);
      }
    }
    if (options.repair) {
      await store.writeIndex(index);
      await store.removeStaleTemp();
    }
    return { checkedBlobs: names.length, problems, repaired: options.repair && problems.length > 0 };
  });
}

/** Blobs an image needs that are absent or were found corrupt (and so removed). */
async function missingBlobs(store: Store, image: string): Promise<string[]> {
  const present = async (blob: string) => (await lstatOrNull(store.blobFile(blob)))?.isFile() ?? false;
  if (!(await present(image))) return [`its manifest ${image}`];
  let manifest;
  try {
    manifest = await store.readDocument(image, manifestSchema);
  } catch {
    return [`a readable manifest`];
  }
  const needed = [manifest.config.digest, ...manifest.layers.map((layer) => layer.digest)];
  const missing: string[] = [];
  for (const blob of needed) if (!(await present(blob))) missing.push(blob);
  return missing;
}
