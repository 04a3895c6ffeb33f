import { tmpDir, type Config } from "../config/index.js";
import { inspectImage, type Inspection } from "../image/index.js";
import { imageArgument, loadImage, resolveRef } from "./images.js";
import { Store } from "./store.js";

/** `inspect`: an image file (read and verified in the temp dir) or a stored image named by tag or digest. */
export async function inspectImageArgument(config: Config, arg: string): Promise<Inspection> {
  const fromStore = async (ref: string) => {
    const store = await Store.open(config);
    return loadImage(store, await resolveRef(store, ref, { fileToo: true }));
  };
  return inspectImage(arg, tmpDir(config), (await imageArgument(arg)) === "ref" ? fromStore : null);
}
