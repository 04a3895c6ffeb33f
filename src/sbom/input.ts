/**
 * What `pypakr sbom` makes its documents from: a pypakr image's config (names,
 * versions, wheel tags, recorded origins) and each distribution layer's
 * METADATA (licenses, Requires-Python, summary, homepage), read from the
 * image's verified blobs: the store's, or an image file's copied to a temp dir.
 */
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { tmpDir, type Config } from "../config/index.js";
import { type Image, isImageName, readImageArchive } from "../image/index.js";
import { Store, findImage, loadImage } from "../store/index.js";
import { PypakrError } from "../util/errors.js";
import { withTempPath } from "../util/fs.js";
import { forEachLimited } from "../util/pool.js";
import { readLayerMetadata } from "./layer.js";
import type { DistributionMetadata, SbomInput } from "./types.js";

/** Layers read at once: each is a decompressor and a tar parser, CPU-bound. */
const PARALLEL_LAYERS = 4;

export async function sbomInputFromImage(image: Image, reference?: string): Promise<SbomInput> {
  const { pypakr } = image.config;
  const layers = new Map(image.manifest.layers.map((layer) => [layer.digest, layer]));
  const metadata = new Map<string, DistributionMetadata | null>();
  await forEachLimited(pypakr.distributions, PARALLEL_LAYERS, async (distribution) => {
    const layer = layers.get(distribution.layer);
    // A config naming a layer the manifest lacks is refused by the reader; nothing to read then either way.
    if (!layer || metadata.has(layer.digest)) return;
    try {
      metadata.set(layer.digest, await readLayerMetadata(createReadStream(image.blobFile(layer.digest)), layer.mediaType, layer.size));
    } catch (error) {
      if (!(error instanceof PypakrError)) throw error;
      throw new PypakrError(`${distribution.name} ${distribution.version}'s layer ${layer.digest.slice(0, 19)}: ${error.message}`, { code: error.code, ...(error.hint ? { hint: error.hint } : {}), cause: error });
    }
  });
  // An archive's own ref name is any string its maker wrote; only a valid image name goes into the documents.
  const name = reference ?? (image.tag !== undefined && isImageName(image.tag) ? image.tag : undefined);
  return {
    ...(name ? { reference: name } : {}),
    manifestDigest: image.manifestDigest,
    created: pypakr.created,
    python: { implementation: pypakr.python.implementation, version: pypakr.python.version },
    architecture: image.config.architecture,
    os: image.config.os,
    components: pypakr.distributions.map((distribution) => ({
      name: distribution.name,
      version: distribution.version,
      wheelTags: distribution.wheelTags,
      layerDigest: distribution.layer,
      ...(distribution.origin ? { origin: distribution.origin } : {}),
      metadata: metadata.get(distribution.layer) ?? null,
    })),
  };
}

/**
 * The SBOM input of an image argument as `pypakr inspect` takes it: an image
 * file (read and verified in the temp dir, which is removed after), or a
 * stored image by tag or digest. `reference` names the image in the
 * documents (a registry reference it was pulled by), else its tag.
 */
export async function sbomInputOfArgument(config: Config, arg: string, options: { file: boolean; reference?: string }): Promise<SbomInput> {
  if (!options.file) {
    const store = await Store.open(config);
    const named = await findImage(store, arg, { fileToo: true });
    return sbomInputFromImage(await loadImage(store, named.digest), options.reference ?? named.tag ?? undefined);
  }
  const tmp = tmpDir(config);
  await fs.mkdir(tmp, { recursive: true });
  return withTempPath(path.join(tmp, "sbom"), "blobs", async (dir) => {
    await fs.mkdir(dir);
    return sbomInputFromImage(await readImageArchive(arg, dir), options.reference);
  });
}
