/**
 * "Pull what is missing", as `docker run` does, for commands that take an
 * image argument: a file or a stored tag/digest is used as it is; a registry
 * reference the store does not hold is pulled first.
 */
import type { Config } from "../config/index.js";
import { resolveRef, Store } from "../store/index.js";
import { lstatOrNull } from "../util/fs.js";
import type { Digest } from "../util/hash.js";
import { pullImage, type PullOptions } from "./pull.js";
import { looksLikeRegistryReference, parseReference } from "./reference.js";

export interface LocalImage {
  /** What to hand to createContainer: the argument itself, or the digest of what was pulled. */
  image: string;
  /** The stored image's digest, when the argument named one (undefined for an image file). */
  digest?: Digest;
  pulled: boolean;
}

export async function ensureLocalImage(config: Config, arg: string, options: PullOptions = {}): Promise<LocalImage> {
  if ((await lstatOrNull(arg))?.isFile()) return { image: arg, pulled: false };
  const store = await Store.open(config);
  try {
    return { image: arg, digest: await resolveRef(store, arg, { fileToo: true }), pulled: false };
  } catch (error) {
    if (!looksLikeRegistryReference(arg)) throw error;
  }
  const ref = parseReference(arg);
  if (ref.digest && (await store.readIndex()).images[ref.digest]) return { image: ref.digest, digest: ref.digest, pulled: false };
  const pulled = await pullImage(config, arg, options);
  return { image: pulled.digest, digest: pulled.digest, pulled: true };
}
