/**
 * Containers made from an image argument that may name an image the store
 * lacks: a registry reference is pulled first, as `docker run` does. This
 * sits in run/, beside container/ and registry/, because it needs both and
 * neither of those may import the other.
 */
import * as path from "node:path";
import type { Config } from "../config/index.js";
import { readContainerRecord } from "../container/index.js";
import { createContainer, type CreateContainerOptions, type CreatedContainer } from "../container/index.js";
import { looksLikeDigest } from "../image/index.js";
import { ensureLocalImage } from "../registry/index.js";
import type { TransportOptions } from "../registry/index.js";
import { looksLikeRegistryReference } from "../registry/index.js";
import { addImageArchive } from "../store/index.js";
import { Store } from "../store/index.js";
import type { Digest } from "../util/hash.js";

/** How to reach a registry, for an image that has to be pulled. */
export type Connection = Pick<TransportOptions, "insecure" | "caFile">;

/** `create-container`: the container made from an image file, a stored image, or a registry reference (pulled when missing). */
export async function createContainerFrom(config: Config, options: CreateContainerOptions, connection: Connection = {}): Promise<CreatedContainer> {
  // Only a registry-shaped argument can need a pull; the rest goes to createContainer as it is.
  const image = looksLikeRegistryReference(options.image) ? (await ensureLocalImage(config, options.image, connection)).image : options.image;
  return createContainer(config, { ...options, image });
}

/** A readable directory name for an image argument: the repository's or file's last name ("image" when it has none). */
export function containerName(arg: string): string {
  const last = arg.replace(/@.*$/, "").split("/").pop() ?? "";
  const name = last.replace(/\.tar(\.gz)?$/, "").replace(/:.*$/, "").replace(/[^A-Za-z0-9._-]/g, "");
  return looksLikeDigest(name) || !name ? "image" : name;
}

/**
 * Where `run -i` keeps the container for an image: the directory given with
 * -c, else pypakr's own, one per image, named for the argument and the
 * image's digest so that a second run finds it.
 */
export function runContainerDir(config: Config, arg: string, digest: Digest, explicit?: string): string {
  return explicit !== undefined ? path.resolve(explicit) : path.join(config.pypakrDir, "containers", `${containerName(arg)}-${digest.slice(7, 19)}`);
}

/**
 * `run -i IMAGE [-c DIR]`: the container for an image, made on first use
 * (pulling the image when it is a registry reference the store lacks) and
 * reused while it holds that image.
 */
export async function containerForRun(config: Config, options: { image: string; container?: string }, connection: Connection = {}): Promise<string> {
  const local = await ensureLocalImage(config, options.image, connection);
  // An image file is loaded, so that its digest names the container and a second run finds it.
  const digest = local.digest ?? (await addImageArchive(await Store.open(config), options.image, { unpack: true })).digest;
  const dir = runContainerDir(config, options.image, digest, options.container);
  const record = await readContainerRecord(dir).catch(() => null);
  if (record?.image.digest === digest) return dir;
  // The default directory is pypakr's own: one that is half made or holds something else is replaced.
  await createContainer(config, { image: digest, container: dir, force: options.container === undefined });
  return dir;
}
