/**
 * Ordinary container images (OCI or Docker schema 2), the kind Docker,
 * podman and Kubernetes run: what `pypakr export` reads a runtime as (a
 * stranger's image, so every document goes through these schemas) and what
 * it writes. Only the fields pypakr reads are typed; a config's other fields
 * are neither needed nor passed on.
 */
import * as z from "zod";
import { SHA256_DIGEST, type Digest } from "../util/hash.js";
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD, MEDIA_TYPE_MANIFEST } from "./media-types.js";

export const MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const MEDIA_TYPE_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const MEDIA_TYPE_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const MEDIA_TYPE_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
export const MEDIA_TYPE_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";

/** The layer media types an ordinary image may use, and what each is called in an OCI manifest (same bytes, same digest). */
const OCI_LAYER_TYPE: Record<string, string> = {
  [MEDIA_TYPE_LAYER_TAR]: MEDIA_TYPE_LAYER_TAR,
  [MEDIA_TYPE_LAYER_GZIP]: MEDIA_TYPE_LAYER_GZIP,
  [MEDIA_TYPE_LAYER_ZSTD]: MEDIA_TYPE_LAYER_ZSTD,
  [MEDIA_TYPE_DOCKER_LAYER_GZIP]: MEDIA_TYPE_LAYER_GZIP,
};

/** Docker's own limit on an image's layers (overlayfs stacks no more). */
export const MAX_ORDINARY_LAYERS = 127;

const digest = z.string().regex(SHA256_DIGEST, "must be a sha256 digest (sha256:<64 lowercase hex>)");
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const goName = z.string().regex(/^[a-z0-9_]{1,32}$/, "must be a Go platform name such as linux or amd64");

export const platformSchema = z.object({ os: goName, architecture: goName, variant: z.string().regex(/^[a-z0-9]{1,16}$/).optional() });
export type Platform = z.infer<typeof platformSchema>;

/** A multi-platform index (OCI) or manifest list (Docker): only the entries pypakr can choose between. */
export const platformIndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MEDIA_TYPE_INDEX, MEDIA_TYPE_DOCKER_LIST]).optional(),
  manifests: z.array(z.object({ mediaType: z.string(), digest, size, platform: platformSchema.optional() })).max(1024),
});
export type PlatformIndex = z.infer<typeof platformIndexSchema>;

export const ordinaryManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MEDIA_TYPE_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST]).optional(),
  config: z.object({ mediaType: z.enum([MEDIA_TYPE_CONFIG, MEDIA_TYPE_DOCKER_CONFIG]), digest, size }),
  layers: z
    .array(
      z.object({
        mediaType: z.string().refine((type) => type in OCI_LAYER_TYPE, "must be a tar layer, uncompressed, gzip or zstd (foreign and other layers cannot be re-published)"),
        digest,
        size,
      }),
    )
    .min(1, "lists no layer")
    .max(MAX_ORDINARY_LAYERS, `must list at most ${MAX_ORDINARY_LAYERS} layers`),
});
export type OrdinaryManifest = z.infer<typeof ordinaryManifestSchema>;

const withoutNul = z.string().max(64 * 1024).refine((value) => !value.includes("\0"), "must not contain a NUL character");

export const ordinaryConfigSchema = z.object({
  architecture: goName,
  os: goName,
  variant: z.string().regex(/^[a-z0-9]{1,16}$/).optional(),
  config: z
    .object({
      User: withoutNul.optional(),
      Env: z.array(withoutNul).max(4096).nullish(),
      Entrypoint: z.array(withoutNul).max(4096).nullish(),
      Cmd: z.array(withoutNul).max(4096).nullish(),
      WorkingDir: withoutNul.optional(),
    })
    .nullish(),
  rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(digest).max(MAX_ORDINARY_LAYERS) }),
});
export type OrdinaryConfig = z.infer<typeof ordinaryConfigSchema>;

/** An ordinary image at hand: its documents checked against their digests and schemas, its layer blobs in files. */
export interface OrdinaryImage {
  /** Where it came from, for messages: a registry reference or oci-archive:PATH. */
  source: string;
  manifestDigest: Digest;
  manifest: OrdinaryManifest;
  configBytes: Buffer;
  config: OrdinaryConfig;
  /** A file holding the blob's verified bytes (every layer of the manifest has one). */
  blobFile(digest: string): string;
}

/** What an OCI manifest calls a layer of this media type (the bytes and digest stay the same). */
export function ociLayerMediaType(mediaType: string): string {
  const type = OCI_LAYER_TYPE[mediaType];
  if (!type) throw new Error(`not a layer media type pypakr can re-publish: ${mediaType}`);
  return type;
}
