/**
 * The image format (v1) as data: schemas for every JSON document an image
 * holds. Every document read from an image is parsed through these, so code
 * past the reader works only with validated values.
 */
import * as z from "zod";
import { SHA256_DIGEST } from "../util/hash.js";
import { INTERPRETER_KIND, pythonSchema } from "../python/index.js";
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD, MEDIA_TYPE_MANIFEST, OCI_LAYOUT_VERSION, PYPAKR_FORMAT_VERSION } from "./media-types.js";

const digest = z.string().regex(SHA256_DIGEST, "must be a sha256 digest (sha256:<64 lowercase hex>)");
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const annotations = z.record(z.string(), z.string()).optional();
/** An RFC 3339 time as toISOString() writes it. */
const timestamp = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/, "must be an RFC 3339 time");

export const descriptorSchema = z.object({
  mediaType: z.string(),
  digest,
  size,
  annotations,
});
export type Descriptor = z.infer<typeof descriptorSchema>;

export const ociLayoutSchema = z.object({ imageLayoutVersion: z.literal(OCI_LAYOUT_VERSION) });

export const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema).min(1, "lists no manifest"),
  annotations,
});
export type ImageIndex = z.infer<typeof indexSchema>;

/** Far more distributions than any environment installs; each layer costs a check and an unpack. */
export const MAX_LAYERS = 10_000;

export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MEDIA_TYPE_MANIFEST),
  config: descriptorSchema.extend({ mediaType: z.literal(MEDIA_TYPE_CONFIG) }),
  layers: z
    .array(descriptorSchema.extend({ mediaType: z.enum([MEDIA_TYPE_LAYER_ZSTD, MEDIA_TYPE_LAYER_GZIP]) }))
    // pypakr never writes a layer twice, and a repeated one would be checked, unpacked and planned once per mention.
    .max(MAX_LAYERS, `must list at most ${MAX_LAYERS} layers (one per distribution, plus one)`)
    .refine((layers) => new Set(layers.map((layer) => layer.digest)).size === layers.length, "must not list the same layer twice"),
  annotations,
});
export type ImageManifest = z.infer<typeof manifestSchema>;

/** Grammars of what an image names and pypakr prints: PEP 508 names, PEP 440-like versions, wheel tags. */
const distributionName = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$/, "must be a distribution name (PEP 508)");
const distributionVersion = z.string().regex(/^[A-Za-z0-9.+!_-]{0,64}$/, "must be a version (PEP 440)");
const wheelTag = z.string().regex(/^[A-Za-z0-9_.]{1,64}-[A-Za-z0-9_.]{1,64}-[A-Za-z0-9_.]{1,128}$/, "must be a wheel tag such as py3-none-any");

/**
 * The file pip installed a distribution from, as its install report named it
 * (pip install --report): what a lock file (PEP 751) and an SBOM need to name
 * the artifact and its hash. Absent for images built before it was recorded,
 * and for what a setup script installed.
 */
export const distributionOriginSchema = z.object({
  /** The wheel's or sdist's file name (the URL's last segment). */
  filename: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}$/, "must be a file name such as flask-3.1.0-py3-none-any.whl"),
  /** Hex sha256 of that file. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
  /** Where pip fetched it, only when that is an https URL (a file: URL names a path of the building machine). */
  url: z.string().max(2048).regex(/^https:\/\/[^\s"<>\\^`{|}]+$/, "must be an https URL").optional(),
});
export type DistributionOrigin = z.infer<typeof distributionOriginSchema>;

export const distributionSchema = z.object({
  name: distributionName,
  version: distributionVersion,
  layer: digest,
  wheelTags: z.array(wheelTag).max(1024),
  origin: distributionOriginSchema.optional(),
});
export type Distribution = z.infer<typeof distributionSchema>;

/** How a file holding the build prefix is rewritten: text anywhere, binary only in place. */
export const relocationKindSchema = z.enum(["text", "binary"]);
export type RelocationKind = z.infer<typeof relocationKindSchema>;

/**
 * What an environment variable may be called in an image: a name every shell
 * can assign (the launch file sets them in sh, src/container/launch.ts) and
 * every exec can pass. Values, and entry-point words, cannot hold NUL, which
 * no environment or argv can carry.
 */
export const ENVIRONMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const withoutNul = z.string().refine((value) => !value.includes("\0"), "must not contain a NUL character");
const environmentSchema = z.record(z.string().regex(ENVIRONMENT_NAME), withoutNul, {
  error: (issue) => (issue.code === "invalid_key" ? "is not an environment variable name (letters, digits and _, not starting with a digit)" : undefined),
});

const interpreterKind = z.string().regex(INTERPRETER_KIND, "must be an interpreter kind such as cpython-3.11-linux-x86_64");

/**
 * The base an image was built on (and a container made from): the interpreter
 * kind that names a base on each machine, and that base's manifest digest.
 * Format 1 called the kind `id`, though it is not the base's identity (the
 * manifest digest is); such documents still read, as `kind`.
 */
export const baseNeedSchema = z.preprocess(
  (value) => (value !== null && typeof value === "object" && "id" in value && !("kind" in value) ? { ...value, kind: value.id, id: undefined } : value),
  z.object({ kind: interpreterKind, manifestDigest: digest }),
);
export type BaseNeed = z.output<typeof baseNeedSchema>;

export const pypakrConfigSchema = z.object({
  // Format 2 renamed base.id to base.kind; nothing else changed, so format 1 images still load.
  formatVersion: z.union([z.literal(1), z.literal(PYPAKR_FORMAT_VERSION)]),
  python: pythonSchema,
  base: baseNeedSchema,
  entrypoint: z.array(withoutNul),
  environment: environmentSchema,
  distributions: z.array(distributionSchema),
  relocation: z.object({
    // Only ever searched for in files, but held to what pypakr writes so no other text rides along.
    placeholder: z.string().regex(/^\/[A-Za-z0-9._/-]{15,4095}$/, "must be an absolute path of letters, digits and ._-"),
    files: z.array(z.object({ path: z.string().min(1), kind: relocationKindSchema })),
  }),
  created: timestamp,
});
export type PypakrConfig = z.infer<typeof pypakrConfigSchema>;

/** The OCI image config, as written by pypakr. Fields other tools read come first. */
export const imageConfigSchema = z.object({
  created: timestamp.optional(),
  architecture: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, "must be a GOARCH name such as amd64"),
  os: z.string().regex(/^[a-z0-9_]{1,32}$/, "must be a GOOS name such as linux"),
  config: z
    .object({
      Env: z.array(z.string()).optional(),
      Entrypoint: z.array(z.string()).optional(),
      Labels: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(digest) }),
  pypakr: pypakrConfigSchema,
});
export type ImageConfig = z.infer<typeof imageConfigSchema>;

// Lives with readJson; re-exported for the format's readers.
export { describeSchemaError } from "../util/json.js";

/** Go's GOARCH names, which OCI configs use, for Python's platform.machine(). */
export function ociArchitecture(machine: string): string {
  const known: Record<string, string> = { x86_64: "amd64", amd64: "amd64", aarch64: "arm64", arm64: "arm64", i686: "386", i386: "386", armv7l: "arm", ppc64le: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  return known[machine.toLowerCase()] ?? machine;
}
