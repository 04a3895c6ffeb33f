/**
 * Ordinary (non-pypakr) images for the runtime tests: small OCI or Docker
 * schema 2 images with real gzip tar layers, written as files (as export
 * hands them to pushOrdinaryImage), multi-platform indexes over them, and
 * oci-archives assembled entry by entry (so a hostile one can be wrong in
 * exactly one way).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { PypakrError } from "../../src/util/errors.js";
import { MEDIA_TYPE_CONFIG as OCI_CONFIG, MEDIA_TYPE_INDEX as OCI_INDEX, MEDIA_TYPE_LAYER_GZIP as OCI_LAYER_GZIP, MEDIA_TYPE_MANIFEST as OCI_MANIFEST } from "../../src/image/media-types.js";
import { MEDIA_TYPE_DOCKER_CONFIG as DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER_GZIP as DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_LIST as DOCKER_LIST, MEDIA_TYPE_DOCKER_MANIFEST as DOCKER_MANIFEST } from "../../src/image/ordinary.js";
import type { Digest } from "../../src/util/hash.js";
import { digestOf } from "./registry.js";
import { tarOf, type TarEntry } from "./tar.js";

/** The media types the tests name themselves (in a list they push, or an archive's index.json entry). */
export { DOCKER_LIST, OCI_INDEX };

export interface TestPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface OrdinaryTestImage {
  manifestBytes: Buffer;
  manifestMediaType: string;
  manifestDigest: Digest;
  configBytes: Buffer;
  layers: Buffer[];
  /** Config and layers, each in a file of `dir` (what pushOrdinaryImage takes). */
  blobs: { digest: string; size: number; file: string }[];
  /** Every blob's bytes, manifest included, for an archive. */
  contents: Buffer[];
}

/** An image of `layerCount` gzip tar layers (random files, or `layerEntries`), for `platform`, in OCI or Docker schema 2 form; `diffIds` lies about them. */
export async function ordinaryImage(dir: string, options: { platform?: TestPlatform; docker?: boolean; layerCount?: number; env?: string[]; layerEntries?: TarEntry[][]; diffIds?: string[] } = {}): Promise<OrdinaryTestImage> {
  const platform = options.platform ?? { os: "linux", architecture: "amd64" };
  const tars = options.layerEntries?.map((entries) => tarOf(entries)) ?? Array.from({ length: options.layerCount ?? 2 }, (_, i) => tarOf([{ name: `usr/share/layer-${i}`, body: randomBytes(2000 + i) }]));
  const layers = tars.map((tar) => gzipSync(tar));
  const config = {
    ...platform,
    config: { Env: options.env ?? ["PATH=/usr/local/bin:/usr/bin:/bin"], Cmd: ["/usr/bin/python3"] },
    rootfs: { type: "layers", diff_ids: options.diffIds ?? tars.map((tar) => digestOf(tar)) },
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const docker = options.docker ?? false;
  const manifestMediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const manifest = {
    schemaVersion: 2,
    mediaType: manifestMediaType,
    config: { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG, digest: digestOf(configBytes), size: configBytes.length },
    layers: layers.map((layer) => ({ mediaType: docker ? DOCKER_LAYER_GZIP : OCI_LAYER_GZIP, digest: digestOf(layer), size: layer.length })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const blobs = [];
  for (const bytes of [configBytes, ...layers]) {
    const file = path.join(dir, digestOf(bytes).slice(7));
    await fs.writeFile(file, bytes);
    blobs.push({ digest: digestOf(bytes), size: bytes.length, file });
  }
  return { manifestBytes, manifestMediaType, manifestDigest: digestOf(manifestBytes), configBytes, layers, blobs, contents: [manifestBytes, configBytes, ...layers] };
}

/** A multi-platform index (OCI) or manifest list (Docker) naming each image with its platform. */
export function platformIndex(images: { image: OrdinaryTestImage; platform: TestPlatform }[], docker = false): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker ? DOCKER_LIST : OCI_INDEX,
      manifests: images.map(({ image, platform }) => ({ mediaType: image.manifestMediaType, digest: image.manifestDigest, size: image.manifestBytes.length, platform })),
    }),
  );
}

/** index.json's entry for a manifest (or an index) held in the archive. */
export function indexEntry(bytes: Buffer, options: { mediaType?: string; refName?: string; platform?: TestPlatform; size?: number } = {}): object {
  return {
    mediaType: options.mediaType ?? OCI_MANIFEST,
    digest: digestOf(bytes),
    size: options.size ?? bytes.length,
    ...(options.platform ? { platform: options.platform } : {}),
    ...(options.refName ? { annotations: { "org.opencontainers.image.ref.name": options.refName } } : {}),
  };
}

/** An oci-archive of `blobs` (each under its own digest) with index.json listing `entries`, plus any crafted `extra` entries. */
export async function writeOciArchive(file: string, entries: object[], blobs: Buffer[], extra: TarEntry[] = []): Promise<string> {
  const unique = [...new Map(blobs.map((bytes) => [digestOf(bytes), bytes])).entries()];
  await fs.writeFile(
    file,
    tarOf([
      { name: "oci-layout", body: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
      { name: "index.json", body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }) },
      ...unique.map(([digest, bytes]) => ({ name: `blobs/sha256/${digest.slice(7)}`, body: bytes })),
      ...extra,
    ]),
  );
  return file;
}

/** For assert.rejects: a PypakrError with this code, a message matching `pattern`, and a hint. */
export function refusedWith(code: string, pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof PypakrError, `not a PypakrError: ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    assert.ok(error.hint, "an error a user can cause carries a hint");
    return true;
  };
}
