/** store/'s face: the store, its image index and tags, unpacked layers, gc, listing and verify. Other folders import only this file (the lint enforces it; see eslint.config.js). */
export { collectGarbage, forgetAddedImage, removeImages } from "./gc.js";
export { acquireImage, addImageArchive, findImage, imageArgument, loadImage, normalizeTag, resolveRef, tagsOf } from "./images.js";
export { forgetUnpackedLayer, isInUnpackedLayer, unpackLayer, unpackVerifiedLayer } from "./layers.js";
export { formatImageList, listImages } from "./listing.js";
export { blobSources, recordBlobSources } from "./registry-sources.js";
export { acquireLock, isLockHeld, LockTimeoutError } from "./lock.js";
export { lockPartialBlob, Store } from "./store.js";
export { verifyStore } from "./verify.js";
export type { RemoveResult } from "./gc.js";
export { inspectImageArgument } from "./inspect.js";
export { removeImagesByRef } from "./remove.js";
export { saveStoredImage } from "./save.js";
