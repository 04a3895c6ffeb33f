import { imageConfigSchema, manifestSchema } from "../image/index.js";
import { describeInterpreter } from "../python/index.js";
import { formatBytes } from "../util/log.js";
import { show } from "../util/printable.js";
import { tagsOf } from "./images.js";
import type { Store } from "./store.js";

export interface ListedImage {
  tags: string[];
  digest: string;
  python: string | null;
  size: number;
  stored: string;
}

/** Every stored image with its tags, interpreter and size (manifest + config + layers). */
export async function listImages(store: Store): Promise<ListedImage[]> {
  const index = await store.readIndex();
  const list: ListedImage[] = [];
  for (const [digest, { stored }] of Object.entries(index.images)) {
    let python: string | null = null;
    let size = 0;
    try {
      const manifest = await store.readDocument(digest, manifestSchema);
      const config = await store.readDocument(manifest.config.digest, imageConfigSchema);
      python = describeInterpreter(config.pypakr.python);
      size = ((await store.blobSize(digest)) ?? 0) + manifest.config.size + manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
    } catch {
      // A damaged image is still listed; store verify says what is wrong.
    }
    list.push({ tags: tagsOf(index, digest), digest, python, size, stored });
  }
  return list.sort((a, b) => (a.stored < b.stored ? 1 : a.stored > b.stored ? -1 : 0));
}

/** The `pypakr images` table; tags and interpreters came from images, so each cell is `show`n (quoted if it holds a control). */
export function formatImageList(list: ListedImage[]): string {
  const rows = list.flatMap((image) =>
    (image.tags.length > 0 ? image.tags.map(show) : ["<none>"]).map((tag) => [tag, image.digest.slice(7, 19), image.python === null ? "(damaged)" : show(image.python), formatBytes(image.size), image.stored.replace("T", " ").slice(0, 19)]),
  );
  const header = ["TAG", "DIGEST", "PYTHON", "SIZE", "STORED"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd()).join("\n") + "\n";
}
