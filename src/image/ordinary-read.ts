/**
 * Reading an ordinary image (a runtime such as python:3.11-slim): choosing
 * its manifest among an index's entries by platform or ref name, and
 * checking its manifest and config. The registry client (registry/ordinary.ts)
 * and the archive reader below share these, so a runtime is held to the
 * same rules wherever it comes from.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { PypakrError } from "../util/errors.js";
import { hexOf, type Digest } from "../util/hash.js";
import { show } from "../util/printable.js";
import { ANNOTATION_REF_NAME, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, MEDIA_TYPE_INDEX } from "./media-types.js";
import { MEDIA_TYPE_DOCKER_LIST, type OrdinaryConfig, ordinaryConfigSchema, type OrdinaryImage, type OrdinaryManifest, ordinaryManifestSchema, type Platform, platformIndexSchema } from "./ordinary.js";
import { parseDocument, type RefuseArchive, unpackArchive } from "./reader.js";

/** An index may name an index (per platform): this many levels, and no deeper (a loop, or a waste). */
export const MAX_INDEX_DEPTH = 3;

export function notAnOrdinaryImage(source: string, problem: string, hint = "Pass an OCI or Docker image that holds a Python runtime, e.g. one `skopeo copy` wrote to oci-archive:PATH."): PypakrError {
  return new PypakrError(`${source} is not a usable container image: ${problem}`, { code: "image-invalid", hint });
}

/** linux/amd64, linux/arm64/v8: as Docker and skopeo write a platform. */
export function platformName(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

function samePlatform(have: Platform, wanted: Platform): boolean {
  return have.os === wanted.os && have.architecture === wanted.architecture && (!wanted.variant || !have.variant || have.variant === wanted.variant);
}

function platformMismatch(source: string, wanted: Platform, has: string[]): PypakrError {
  return new PypakrError(`${source} has no image for ${platformName(wanted)}: it has ${has.length > 0 ? has.join(", ") : "no platform named"}`, {
    code: "platform-mismatch",
    hint: `Use a runtime image built for ${platformName(wanted)}, the pypakr image's platform.`,
  });
}

/** Whether a manifest, by the media type it declares (or its descriptor or Content-Type gives), is an index of manifests. */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MEDIA_TYPE_INDEX || mediaType === MEDIA_TYPE_DOCKER_LIST;
}

const declaredMediaTypeSchema = z.object({ mediaType: z.string() });

/** The media type a document names for itself, else `fallback` (OCI makes the field optional). */
export function declaredMediaType(bytes: Buffer, fallback: string | undefined): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    return fallback; // the schema that reads it next says what is wrong
  }
  const declared = declaredMediaTypeSchema.safeParse(json);
  return declared.success ? declared.data.mediaType : fallback;
}

/**
 * The entry of a multi-platform index (OCI index or Docker manifest list)
 * for `wanted`: its os and architecture match, and its variant when both
 * name one. None: an error listing the platforms the index has.
 */
export function choosePlatformEntry(source: string, indexBytes: Buffer, wanted: Platform | undefined): { mediaType: string; digest: Digest; size: number } {
  const index = parseDocument((problem, hint) => notAnOrdinaryImage(source, problem, hint), "index", indexBytes, platformIndexSchema);
  const chosen = pickByPlatform(source, index.manifests, wanted);
  return { mediaType: chosen.mediaType, digest: chosen.digest as Digest, size: chosen.size };
}

function pickByPlatform<T extends { platform?: Platform | undefined }>(source: string, entries: T[], wanted: Platform | undefined): T {
  if (!wanted) {
    if (entries.length === 1) return entries[0] as T;
    throw notAnOrdinaryImage(source, `it is an index of ${entries.length} images (${describePlatforms(entries).join(", ")}), and no platform was given to choose one`);
  }
  const chosen = entries.find((entry) => entry.platform && samePlatform(entry.platform, wanted));
  if (!chosen) throw platformMismatch(source, wanted, describePlatforms(entries));
  return chosen;
}

function describePlatforms(entries: { platform?: Platform | undefined }[]): string[] {
  return [...new Set(entries.map((entry) => (entry.platform ? show(platformName(entry.platform)) : "(no platform)")))];
}

/** The manifest's bytes, through the ordinary schema; an index here is refused by name. */
export function parseOrdinaryManifest(source: string, bytes: Buffer): OrdinaryManifest {
  if (isIndexMediaType(declaredMediaType(bytes, undefined))) throw notAnOrdinaryImage(source, "an index names another index where an image manifest was due");
  return parseDocument((problem, hint) => notAnOrdinaryImage(source, problem, hint), "manifest", bytes, ordinaryManifestSchema);
}

/** The config's bytes, through the ordinary schema, checked against its manifest and (when given) the platform wanted. */
export function parseOrdinaryConfig(source: string, bytes: Buffer, manifest: OrdinaryManifest, wanted: Platform | undefined): OrdinaryConfig {
  const config = parseDocument((problem, hint) => notAnOrdinaryImage(source, problem, hint), "config", bytes, ordinaryConfigSchema);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw notAnOrdinaryImage(source, `its config lists ${config.rootfs.diff_ids.length} layers and its manifest ${manifest.layers.length}`);
  }
  if (wanted && !samePlatform(config, wanted)) throw platformMismatch(source, wanted, [show(platformName(config))]);
  return config;
}

/** Refuses a document larger than any real one on its descriptor's word, before a byte of it is read. */
export function checkDocumentSize(source: string, what: "index" | "manifest" | "config", descriptor: { digest: string; size: number }): void {
  const limit = what === "config" ? MAX_CONFIG_BYTES : MAX_MANIFEST_BYTES;
  if (descriptor.size > limit) throw notAnOrdinaryImage(source, `its ${what} ${descriptor.digest} is ${descriptor.size} bytes, more than pypakr reads (${limit} bytes)`);
}

/** One ordinary image of an oci-archive: which one, when it holds several (see readOrdinaryArchive). */
export interface OrdinaryArchiveOptions {
  platform?: Platform;
  /** The `org.opencontainers.image.ref.name` of the image to read (`skopeo copy ... oci-archive:PATH:NAME` writes it). */
  refName?: string;
}

/**
 * Reads an oci-archive holding an ordinary image into `workDir`
 * (blobs/sha256/<hex>, each copied, hashed and checked against its name).
 * index.json may list one image, several (chosen by `refName`, else by
 * `platform`), or an index per platform. Blobs of the images not chosen are
 * not kept. A pypakr image is an ordinary image too (OCI manifest and config):
 * it reads, although it holds no interpreter.
 */
export async function readOrdinaryArchive(archive: string, workDir: string, options: OrdinaryArchiveOptions = {}): Promise<OrdinaryImage> {
  const source = `oci-archive:${archive}`;
  const refuse: RefuseArchive = (problem, hint) => notAnOrdinaryImage(source, problem, hint);
  const blobsDir = path.join(workDir, "blobs", "sha256");
  await fs.mkdir(blobsDir, { recursive: true });
  const blobFile = (digest: string) => path.join(blobsDir, hexOf(digest));
  const unpacked = await unpackArchive(archive, { refuse, blobPath: (hex) => path.join(blobsDir, hex), missingHint: "Check the path; skopeo writes one with: skopeo copy docker://IMAGE oci-archive:PATH" });
  await Promise.all(unpacked.flushes);

  const used = new Set<string>();
  const readDocument = async (what: "index" | "manifest" | "config", descriptor: { digest: string; size: number }): Promise<Buffer> => {
    checkDocumentSize(source, what, descriptor);
    const size = unpacked.blobSizes.get(hexOf(descriptor.digest));
    if (size === undefined) throw refuse(`its ${what} ${descriptor.digest} is missing`);
    if (size !== descriptor.size) throw refuse(`its ${what} ${descriptor.digest} is ${size} bytes, but the image says ${descriptor.size}`);
    used.add(hexOf(descriptor.digest));
    return fs.readFile(blobFile(descriptor.digest));
  };

  // index.json through both schemas: the pypakr one keeps annotations (ref names), the ordinary one platforms.
  const platforms = parseDocument(refuse, "index.json", unpacked.indexBytes, platformIndexSchema).manifests;
  const entries = unpacked.index.manifests.map((entry, i) => ({ ...entry, platform: platforms[i]?.platform }));
  let chosen: { mediaType: string; digest: string; size: number } = chooseArchiveEntry(source, entries, options);
  for (let depth = 1; isIndexMediaType(chosen.mediaType); depth++) {
    if (depth > MAX_INDEX_DEPTH) throw refuse(`its indexes nest more than ${MAX_INDEX_DEPTH} deep`);
    chosen = choosePlatformEntry(source, await readDocument("index", chosen), options.platform);
  }
  const manifestBytes = await readDocument("manifest", chosen);
  const manifest = parseOrdinaryManifest(source, manifestBytes);
  const configBytes = await readDocument("config", manifest.config);
  const config = parseOrdinaryConfig(source, configBytes, manifest, options.platform);
  for (const layer of manifest.layers) {
    const size = unpacked.blobSizes.get(hexOf(layer.digest));
    if (size === undefined) throw refuse(`its layer ${layer.digest} is missing`);
    if (size !== layer.size) throw refuse(`its layer ${layer.digest} is ${size} bytes, but the manifest says ${layer.size}`);
    used.add(hexOf(layer.digest));
  }
  // The other images of a multi-image archive are not the caller's: their copies go.
  for (const hex of unpacked.blobSizes.keys()) if (!used.has(hex)) await fs.rm(path.join(blobsDir, hex), { force: true });
  return { source, manifestDigest: chosen.digest as Digest, manifest, configBytes, config, blobFile };
}

type ArchiveEntry = { mediaType: string; digest: string; size: number; annotations?: Record<string, string> | undefined; platform?: Platform | undefined };

/** index.json's entry to read: by ref name, else the only one, else by platform (its own, or a nested index's). */
function chooseArchiveEntry(source: string, entries: ArchiveEntry[], options: OrdinaryArchiveOptions): ArchiveEntry {
  const names = entries.map((entry) => entry.annotations?.[ANNOTATION_REF_NAME]);
  const listed = () => [...new Set(names.map((name) => (name === undefined ? "(unnamed)" : `"${show(name)}"`)))].join(", ");
  let candidates = entries;
  if (options.refName !== undefined) {
    candidates = entries.filter((_, i) => names[i] === options.refName);
    if (candidates.length === 0) throw notAnOrdinaryImage(source, `it has no image named "${show(options.refName)}"; it holds: ${listed()}`, "Name one of the images it holds.");
  }
  if (candidates.length === 1) return candidates[0] as ArchiveEntry;
  // Several, each with its platform (an index per platform in index.json itself): the platform chooses.
  if (options.platform && candidates.every((entry) => entry.platform)) return pickByPlatform(source, candidates, options.platform);
  throw notAnOrdinaryImage(source, `it holds ${candidates.length} images (${listed()})`, "Name the one to use by its ref name.");
}
