/**
 * Reading an image archive nobody here made: every blob is hashed while it is
 * copied out and must match its name, every descriptor's size must match, and
 * every JSON document goes through its schema before anything uses it.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type * as z from "zod";
import { describe, isErrno, PypakrError } from "../util/errors.js";
import { hexOf, sha256Stream, SHA256_DIGEST, type Digest } from "../util/hash.js";
import { BlobWriter, type WrittenBlob } from "../util/blob-writer.js";
import { fsyncFile } from "../util/fs.js";
import { ArchiveTooLargeError, normalizeEntryName, readBody, readTarFile } from "../util/tar.js";
import { describeSchemaError, imageConfigSchema, indexSchema, manifestSchema, ociLayoutSchema, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest } from "./format.js";
import { RESERVED_NAMES } from "../layout/index.js";
import { checkLayerArchive } from "./extract/index.js";
import { ANNOTATION_REF_NAME, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from "./media-types.js";

const MAX_DOCUMENT_BYTES = 8 * 1024 * 1024;

export interface Image {
  source: string;
  manifestDigest: Digest;
  /** The manifest's size, as its descriptor gives it (and as verified). */
  manifestSize: number;
  manifest: ImageManifest;
  configDigest: Digest;
  config: ImageConfig;
  tag: string | undefined;
  /** Where each verified blob was copied to. */
  blobFile(digest: string): string;
}

export function notAnImage(file: string, problem: string, hint = "Pass an image made by `pypakr create-image` (an OCI image archive)."): PypakrError {
  return new PypakrError(`${file} is not a usable pypakr image: ${problem}`, { code: "image-invalid", hint });
}

/** Makes the error for an archive that is not a usable image (pypakr's own kind, or an ordinary one). */
export type RefuseArchive = (problem: string, hint?: string) => PypakrError;

/**
 * Copies one blob out of the archive (through a BlobWriter to `target`, for
 * the store to commit once the image is validated, or nowhere), hashing it on
 * the way, and checks it is what its name says.
 */
async function copyBlob(body: AsyncIterable<Buffer>, expectedHex: string, target: string | null, refuse: RefuseArchive): Promise<{ size: number; written?: WrittenBlob }> {
  let hex: string;
  let size: number;
  let written: WrittenBlob | undefined;
  if (target) {
    const writer = await BlobWriter.create(target);
    try {
      await writer.writeAll(body);
    } finally {
      written = await writer.finish();
    }
    ({ size } = written);
    hex = hexOf(written.digest);
  } else {
    ({ hex, size } = await sha256Stream(body));
  }
  if (hex !== expectedHex) {
    // Not left under a name it does not deserve, for anyone to take for the blob.
    if (target) await fs.rm(target, { force: true });
    throw refuse(`blob sha256:${expectedHex} is corrupt (its content hashes to sha256:${hex})`, "The file was damaged in transit or on disk; fetch or build it again.");
  }
  return { size, ...(written ? { written } : {}) };
}

/** Parses a JSON document of an image through its schema; anything else is the image's fault. */
export function parseDocument<T>(refuse: RefuseArchive, what: string, bytes: Buffer, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw refuse(`its ${what} is not valid JSON (${describe(error)})`);
  }
  const result = schema.safeParse(json);
  if (!result.success) throw refuse(`its ${what} is malformed: ${describeSchemaError(result.error)}`);
  return result.data;
}

/** A verified copy of a blob that is already at hand (in the store), so the archive's need not be copied. */
export type KnownBlob = (digest: Digest) => Promise<{ file: string; size: number } | undefined>;

/** An image read from an archive: also the blobs it wrote, for the store to commit (Store.commitBlob). */
export interface ArchiveImage extends Image {
  /** The blob as copied out of the archive, or undefined for one `known` had. */
  written(digest: string): WrittenBlob | undefined;
  /**
   * Settles when the copies' fsyncs, started as each copy was finished, are
   * done: the disk writes them while the layers are checked, so the commit
   * (whose own fsync stays the one that counts) finds little left to write.
   */
  readonly flushed: Promise<void>;
}

/**
 * Refuses a new layer (its verified copy at `file`) that extraction would
 * refuse. The default extracts it into a tree of names only
 * (checkLayerArchive); a caller that is about to extract it anyway may do
 * that now instead, so that the layer is decompressed once.
 */
export type LayerCheck = (layer: { digest: Digest; file: string; what: string }) => Promise<void>;

/** What an OCI archive held: its index, and each blob copied out and verified against its name. */
export interface UnpackedArchive {
  index: ImageIndex;
  /** index.json as it was, for a reader that needs fields the index schema does not keep (an entry's platform). */
  indexBytes: Buffer;
  /** hex -> size of each blob the archive holds (all verified). */
  blobSizes: Map<string, number>;
  /** hex -> the file of a blob `known` had (not copied). */
  knownFiles: Map<string, string>;
  /** hex -> the copy of a blob `known` did not have. */
  written: Map<string, WrittenBlob>;
  /** The copies' fsyncs, started as each copy was finished. */
  flushes: Promise<void>[];
}

/**
 * Reads an OCI archive (oci-layout, index.json, blobs/sha256/*) in one pass:
 * each blob is copied to `blobPath(hex)` (unless `known` has it) and hashed on
 * the way, and must match its name. Refuses names that leave the archive,
 * entries that are not files, blobs given twice, a tar that is no tar.
 */
export async function unpackArchive(file: string, options: { refuse: RefuseArchive; blobPath: (hex: string) => string; missingHint: string; known?: KnownBlob }): Promise<UnpackedArchive> {
  const { refuse } = options;
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    if (isErrno(error, "ENOENT")) throw new PypakrError(`image file ${file} does not exist`, { code: "image-file-not-found", hint: options.missingHint });
    throw error;
  }
  if (!stat.isFile()) throw refuse("it is not a regular file");

  const blobSizes = new Map<string, number>();
  const knownFiles = new Map<string, string>();
  const written = new Map<string, WrittenBlob>();
  const documents = new Map<string, Buffer>();
  const flushes: Promise<void>[] = [];
  try {
    for await (const { header, body } of readTarFile(file)) {
      const name = normalizeEntryName(header.name);
      if ("error" in name) throw refuse(`archive entry "${header.name}" ${name.error}`);
      if (header.type === "directory") continue;
      if (header.type !== "file") throw refuse(`archive entry "${name.path}" is a ${header.type}, and an image holds only files`);
      if (name.path === "oci-layout" || name.path === "index.json") {
        if (documents.has(name.path)) throw refuse(`it holds ${name.path} twice`);
        documents.set(name.path, await readBody(body, MAX_DOCUMENT_BYTES, name.path));
        continue;
      }
      const blob = /^blobs\/sha256\/([^/]+)$/.exec(name.path);
      if (!blob) continue; // other files (e.g. a docker-archive manifest.json) are not ours to read
      const hex = blob[1] ?? "";
      if (!SHA256_DIGEST.test(`sha256:${hex}`)) throw refuse(`blob name "${hex}" is not a sha256 digest`);
      if (blobSizes.has(hex)) throw refuse(`it holds blob sha256:${hex} twice`);
      const known = await options.known?.(`sha256:${hex}`);
      if (known) knownFiles.set(hex, known.file);
      const copied = await copyBlob(body, hex, known ? null : options.blobPath(hex), refuse);
      blobSizes.set(hex, copied.size);
      if (copied.written) {
        written.set(hex, copied.written);
        // A failure here shows again, as an error, in the commit's own fsync.
        flushes.push(fsyncFile(copied.written.file).catch(() => undefined));
      }
    }
  } catch (error) {
    if (error instanceof PypakrError) throw error;
    if (error instanceof ArchiveTooLargeError) throw refuse(`the archive ${error.message}`, "The file is damaged or was crafted to exhaust the disk; get it from a trusted source.");
    throw refuse(`it is not a readable tar archive (${describe(error)})`);
  }

  const layout = documents.get("oci-layout");
  if (!layout) throw refuse("it has no oci-layout file, so it is not an OCI image archive");
  parseDocument(refuse, "oci-layout", layout, ociLayoutSchema);
  const indexBytes = documents.get("index.json");
  if (!indexBytes) throw refuse("it has no index.json");
  const index = parseDocument(refuse, "index.json", indexBytes, indexSchema);
  return { index, indexBytes, blobSizes, knownFiles, written, flushes };
}

/**
 * Unpacks and verifies an image archive into `workDir` (which must exist and
 * be empty). Throws PypakrError on anything that is not a sound pypakr image.
 * Blobs that `known` has are still verified, but not copied: its copy is
 * used instead, which saves writing every large layer a second time.
 */
export async function readImageArchive(file: string, workDir: string, options: { tag?: string; known?: KnownBlob; maxEntries?: number; checkLayer?: LayerCheck } = {}): Promise<ArchiveImage> {
  const refuse: RefuseArchive = (problem, hint) => notAnImage(file, problem, hint);
  const { blobSizes, knownFiles, written, flushes, index } = await unpackArchive(file, { refuse, blobPath: (hex) => path.join(workDir, hex), missingHint: "Check the path, or make the image with: pypakr create-image -s SRC -i IMAGE.tar", ...(options.known ? { known: options.known } : {}) });

  const chosen = chooseManifest(file, index.manifests, options.tag);
  const image = await openImage(file, chosen, {
    size: (digest) => Promise.resolve(blobSizes.get(hexOf(digest))),
    file: (digest) => knownFiles.get(hexOf(digest)) ?? path.join(workDir, hexOf(digest)),
  });
  // Each new layer is checked now (or extracted, by a caller about to make a container: checkLayer),
  // so one that can never be extracted is refused before the store keeps it (blobs the store has were
  // checked on the way in).
  await checkLayers(image, (digest) => !knownFiles.has(hexOf(digest)), options.maxEntries, options.checkLayer);
  return { ...image, written: (digest) => written.get(hexOf(digest)), flushed: Promise.all(flushes).then(() => undefined) };
}

/**
 * Refuses the image if a layer `select` selects holds an entry that
 * extraction would refuse on its own (checkLayerArchive, unless `check`
 * says how).
 */
export async function checkLayers(image: Image, select: (digest: string) => boolean, maxEntries?: number, check?: LayerCheck): Promise<void> {
  for (const [index, layer] of image.manifest.layers.entries()) {
    if (!select(layer.digest)) continue;
    const what = `layer ${index + 1} (${layer.digest.slice(0, 19)}) of ${image.source}`;
    if (check) await check({ digest: layer.digest as Digest, file: image.blobFile(layer.digest), what });
    else await checkLayerArchive(image.blobFile(layer.digest), { what, reserved: RESERVED_NAMES, ...(maxEntries ? { maxEntries } : {}) });
  }
}

/** Where an image's blobs are: an unpacked archive or the store. Sizes are of verified content. */
export interface BlobSource {
  size(digest: string): Promise<number | undefined>;
  file(digest: string): string;
}

/**
 * Validates an image whose blobs are already verified against their names:
 * every descriptor's blob is present with the right size, the manifest and
 * config pass their schemas, and the config's tables agree with the manifest.
 */
export async function openImage(source: string, descriptor: Descriptor, blobs: BlobSource): Promise<Image> {
  const checkBlob = async (blob: Descriptor, what: string): Promise<void> => {
    const size = await blobs.size(blob.digest);
    if (size === undefined) throw notAnImage(source, `its ${what} ${blob.digest} is missing`);
    if (size !== blob.size) throw notAnImage(source, `its ${what} ${blob.digest} is ${size} bytes, but the image says ${blob.size}`);
  };
  // Documents are read whole: one bigger than any real one is refused on its descriptor's word, before a byte is read.
  const readBlob = async (blob: Descriptor, what: string, limit: number): Promise<Buffer> => {
    if (blob.size > limit) throw notAnImage(source, `its ${what} ${blob.digest} is ${blob.size} bytes, more than a pypakr ${what} can be (${limit} bytes)`);
    await checkBlob(blob, what);
    return fs.readFile(blobs.file(blob.digest));
  };
  const refuse: RefuseArchive = (problem, hint) => notAnImage(source, problem, hint);
  const manifest = parseDocument(refuse, "manifest", await readBlob(descriptor, "manifest", MAX_MANIFEST_BYTES), manifestSchema);
  const configBytes = await readBlob(manifest.config, "config", MAX_CONFIG_BYTES);
  if (!configBytes.includes('"pypakr"')) {
    throw notAnImage(source, "it is an OCI image, but not one pypakr made (its config has no pypakr section)", "Make a pypakr image from its source with: pypakr create-image -s SRC -i IMAGE.tar");
  }
  const config = parseDocument(refuse, "config", configBytes, imageConfigSchema);
  for (const layer of manifest.layers) await checkBlob(layer, "layer");
  if (config.rootfs.diff_ids.length !== manifest.layers.length) throw notAnImage(source, "its config and manifest disagree on the number of layers");
  const layerDigests = new Set(manifest.layers.map((layer) => layer.digest));
  for (const distribution of config.pypakr.distributions) {
    if (!layerDigests.has(distribution.layer)) throw notAnImage(source, `distribution ${distribution.name} names layer ${distribution.layer}, which the manifest does not list`);
  }
  for (const entry of config.pypakr.relocation.files) {
    const name = normalizeEntryName(entry.path);
    if ("error" in name || name.path !== entry.path || name.path === "") throw notAnImage(source, `its relocation table names an unsafe path "${entry.path}"`);
  }
  return {
    source,
    manifestDigest: descriptor.digest as Digest,
    manifestSize: descriptor.size,
    manifest,
    configDigest: manifest.config.digest as Digest,
    config,
    tag: descriptor.annotations?.[ANNOTATION_REF_NAME],
    blobFile: (digest) => blobs.file(digest),
  };
}

function chooseManifest(file: string, manifests: Descriptor[], tag: string | undefined): Descriptor {
  if (tag) {
    const match = manifests.find((manifest) => manifest.annotations?.[ANNOTATION_REF_NAME] === tag);
    if (!match) throw notAnImage(file, `it has no image tagged "${tag}"`);
    return match;
  }
  if (manifests.length > 1) {
    const tags = manifests.map((manifest) => manifest.annotations?.[ANNOTATION_REF_NAME] ?? manifest.digest);
    throw notAnImage(file, `it holds ${manifests.length} images (${tags.join(", ")})`, "pypakr images hold one; pass an archive with a single image.");
  }
  return manifests[0] as Descriptor;
}
