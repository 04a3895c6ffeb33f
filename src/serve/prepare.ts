/**
 * From an app's image reference to what its instances run: the image is
 * found (or pulled) when the gateway starts, so a wrong reference fails
 * before anything listens; the container is made on the first request that
 * needs it, once per image digest, and its instances share it read-only.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Config } from "../config/index.js";
import { readContainerRecord } from "../container/index.js";
import { ensureLocalImage } from "../registry/index.js";
import { containerForRun, type Connection } from "../run/index.js";
import { addImageArchive, Store } from "../store/index.js";
import type { Digest } from "../util/hash.js";
import { PypakrError } from "../util/errors.js";

export interface PreparedContainer {
  digest: Digest;
  dir: string;
  /** The image's entry point, run with the container as working directory. */
  argv: string[];
  /** The venv's environment and the image's; the app's own settings go over it. */
  env: Record<string, string>;
  /** Host paths the instance needs to see, read-only: the container and the interpreter's installation. */
  readOnly: string[];
}

/** The digest an app's image reference names: a stored image, an image file (loaded), or a registry reference (pulled when missing). */
export async function resolveImage(config: Config, image: string, connection: Connection): Promise<Digest> {
  const local = await ensureLocalImage(config, image, connection);
  return local.digest ?? (await addImageArchive(await Store.open(config), image, { unpack: true })).digest;
}

/** The container for a digest (made when missing or when it holds another image) and what its instances run. */
export async function prepareContainer(config: Config, digest: Digest): Promise<PreparedContainer> {
  const dir = await containerForRun(config, { image: digest });
  const record = await readContainerRecord(dir);
  const argv = record.entrypoint.length > 0 ? record.entrypoint : ["./run"];
  const env: Record<string, string> = {
    PATH: `${path.join(dir, "bin")}:/usr/local/bin:/usr/bin:/bin`,
    VIRTUAL_ENV: dir,
    LANG: "C.UTF-8",
    ...record.environment,
  };
  return { digest, dir, argv, env, readOnly: [dir, await interpreterPrefix(dir)] };
}

/**
 * The installation the venv's interpreter belongs to (its bin/python3 is a
 * symlink there; libpython and the standard library sit beside it). The
 * container was made by this pypakr from its own base, so the link is ours,
 * but it is still checked to be an absolute path of the usual shape.
 */
async function interpreterPrefix(container: string): Promise<string> {
  const python = await fs.realpath(path.join(container, "bin", "python3")).catch(() => null);
  const prefix = python !== null ? path.dirname(path.dirname(python)) : null;
  if (prefix === null || !path.isAbsolute(prefix) || prefix === "/" || path.basename(path.dirname(python ?? "")) !== "bin") {
    throw new PypakrError(`container ${container} has no usable bin/python3 to run its app with`, { code: "container-damaged", hint: `Remove ${container}; pypakr serve makes it again.` });
  }
  return prefix;
}
