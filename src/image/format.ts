/**
 * The image format (v1) as data: schemas for every JSON document an image
 * holds. Every document read from an image is parsed through these, so code
 * past the reader works only with validated values.
 */
import { z } from "zod";
import { SHA256_DIGEST } from "../util/hash.js";
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER, MEDIA_TYPE_MANIFEST, OCI_LAYOUT_VERSION, PYPAKR_FORMAT_VERSION } from "./media-types.js";

const digest = z.string().regex(SHA256_DIGEST, "must be a sha256 digest (sha256:<64 lowercase hex>)");
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const annotations = z.record(z.string(), z.string()).optional();

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

export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MEDIA_TYPE_MANIFEST),
  config: descriptorSchema.extend({ mediaType: z.literal(MEDIA_TYPE_CONFIG) }),
  layers: z.array(descriptorSchema.extend({ mediaType: z.literal(MEDIA_TYPE_LAYER) })),
  annotations,
});
export type ImageManifest = z.infer<typeof manifestSchema>;

/** The interpreter an image was built with; a container needs a base that matches. */
export const pythonSchema = z.object({
  implementation: z.string().min(1),
  version: z.string().regex(/^\d+\.\d+\.\d+/, "must look like 3.11.7"),
  abiFlags: z.string(),
  soabi: z.string(),
  os: z.string().min(1),
  machine: z.string().min(1),
  libc: z.string(),
  libcVersion: z.string(),
});
export type PythonIdentity = z.infer<typeof pythonSchema>;

export const distributionSchema = z.object({
  name: z.string().min(1),
  version: z.string(),
  layer: digest,
  wheelTags: z.array(z.string()),
});
export type Distribution = z.infer<typeof distributionSchema>;

/** How a file holding the build prefix is rewritten: text anywhere, binary only in place. */
export const relocationKindSchema = z.enum(["text", "binary"]);
export type RelocationKind = z.infer<typeof relocationKindSchema>;

export const pypakrConfigSchema = z.object({
  formatVersion: z.literal(PYPAKR_FORMAT_VERSION),
  python: pythonSchema,
  base: z.object({ id: z.string().min(1), manifestDigest: digest }),
  entrypoint: z.array(z.string()),
  environment: z.record(z.string(), z.string()),
  distributions: z.array(distributionSchema),
  relocation: z.object({
    placeholder: z.string().min(16),
    files: z.array(z.object({ path: z.string().min(1), kind: relocationKindSchema })),
  }),
  created: z.string(),
});
export type PypakrConfig = z.infer<typeof pypakrConfigSchema>;

/** The OCI image config, as written by pypakr. Fields other tools read come first. */
export const imageConfigSchema = z.object({
  created: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
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

/** First problem zod found, as one line a user can act on. */
export function describeSchemaError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid document";
  const where = issue.path.length > 0 ? issue.path.join(".") : "the document";
  return `${where}: ${issue.message}`;
}

/** Go's GOARCH names, which OCI configs use, for Python's platform.machine(). */
export function ociArchitecture(machine: string): string {
  const known: Record<string, string> = { x86_64: "amd64", amd64: "amd64", aarch64: "arm64", arm64: "arm64", i686: "386", i386: "386", armv7l: "arm", ppc64le: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  return known[machine.toLowerCase()] ?? machine;
}
