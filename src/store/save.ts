import * as path from "node:path";
import type { Config } from "../config/index.js";
import { checkOutputFile } from "../config/index.js";
import { saveImage } from "../image/index.js";
import type { Digest } from "../util/hash.js";
import { findImage, loadImage, tagsOf } from "./images.js";
import { Store } from "./store.js";

/**
 * `save`: a stored image, named by tag or digest, written to an image file.
 * The archive carries the tag it was asked for by, else the image's first
 * tag, as docker save does.
 */
export async function saveStoredImage(config: Config, ref: string, output: string): Promise<{ file: string; size: number; digest: Digest }> {
  const file = path.resolve(output);
  await checkOutputFile(config, file, "-o");
  const store = await Store.open(config);
  const { digest, tag } = await findImage(store, ref);
  const image = await loadImage(store, digest);
  const size = await saveImage(image, file, tag ?? tagsOf(await store.readIndex(), digest)[0]);
  return { file, size, digest };
}
