/**
 * `rmi`'s references, read as rmi reads them: a name is held to the
 * image-name grammar first (so a typo is said to be no name, not no image),
 * then each names a stored image by tag or digest, and the tag it named it
 * by decides between untagging and removing (see removeImages).
 */
import { looksLikeDigest } from "../image/index.js";
import { removeImages, type RemoveResult } from "./gc.js";
import { findImage, normalizeTag } from "./images.js";
import type { Store } from "./store.js";

export async function removeImagesByRef(store: Store, refs: readonly string[], force: boolean): Promise<RemoveResult> {
  const targets = [];
  for (const ref of refs) {
    if (!looksLikeDigest(ref)) normalizeTag(ref);
    const { digest, tag } = await findImage(store, ref);
    targets.push({ ref: tag ?? ref, digest, isTag: tag !== null });
  }
  return removeImages(store, targets, force);
}
