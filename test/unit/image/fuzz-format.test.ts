/**
 * Property-based tests of the image documents' schemas (src/image/format.ts)
 * and of openImage's validation (src/image/reader.ts), with fast-check,
 * bounded in runs and time. FUZZ_SEED=<n> replays a seed; FUZZ_SCALE=<k>
 * runs k times as many cases.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { describeSchemaError, descriptorSchema, imageConfigSchema, indexSchema, manifestSchema, ociLayoutSchema, type ImageConfig, type ImageManifest } from "../../../src/image/format.js";
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST } from "../../../src/image/media-types.js";
import { openImage } from "../../../src/image/reader.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";
import { bounded } from "../../support/fuzz.js";

/** The digest grammar pypakr accepts, written out by hand: sha256, a colon, 64 lowercase hex digits, nothing else. */
function modelDigest(value: unknown): boolean {
  if (typeof value !== "string" || value.length !== 71 || !value.startsWith("sha256:")) return false;
  return [...value.slice(7)].every((char) => "0123456789abcdef".includes(char));
}

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString("hex"));
const goodDigest = hex64.map((hex) => `sha256:${hex}`);
const badDigest = fc.oneof(
  fc.constantFrom("sha256:../x", "sha256:", "sha256:../../../../etc/passwd", "sha512:" + "a".repeat(128), "SHA256:" + "a".repeat(64), "sha256:" + "A".repeat(64), "sha256:" + "a".repeat(63), "sha256:" + "a".repeat(65)),
  hex64.map((hex) => `sha256:${hex}\n`),
  hex64.map((hex) => ` sha256:${hex}`),
  hex64.map((hex) => `sha256:${hex.slice(0, 63)}/`),
  hex64.map((hex) => `sha256:${hex.toUpperCase()}`),
  fc.string(),
);
const anyDigest = fc.oneof(goodDigest, badDigest, fc.jsonValue());

/** Like fc.jsonValue, with the keys this format uses mixed in, so the shapes come close to valid. */
const nearJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.jsonValue({ maxDepth: 1 }),
    goodDigest,
    fc.constantFrom(2, MEDIA_TYPE_MANIFEST, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP, "layers", "1.0.0"),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom("schemaVersion", "mediaType", "config", "layers", "digest", "size", "annotations", "manifests", "rootfs", "diff_ids", "pypakr", "__proto__", "constructor", "x"), tie("value"), { maxKeys: 5 }),
  ),
})).value;

describe("fuzz: schemas", () => {
  test("every schema judges any JSON without throwing, and explains a refusal in one line", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), nearJson), (value) => {
        for (const schema of [manifestSchema, indexSchema, imageConfigSchema, ociLayoutSchema, descriptorSchema]) {
          const result = (schema as typeof descriptorSchema).safeParse(value);
          if (!result.success) {
            const text = describeSchemaError(result.error);
            assert.ok(text.length > 0 && !text.includes("\n"), JSON.stringify(text));
          }
        }
      }),
      bounded(2000, 2500, [[{ __proto__: null, schemaVersion: 2 }], [JSON.parse('{"__proto__":{"schemaVersion":2}}')]]),
    );
  });

  test("a descriptor's digest is accepted exactly when it is sha256:<64 lowercase hex> ('sha256:../x' is not)", () => {
    fc.assert(
      fc.property(anyDigest, (digest) => {
        const result = descriptorSchema.safeParse({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: 1 });
        assert.equal(result.success, modelDigest(digest), JSON.stringify(digest));
      }),
      bounded(3000, 1500, [["sha256:../x"] as [fc.JsonValue]]),
    );
  });

  test("a descriptor's size is accepted exactly when it is a safe non-negative integer", () => {
    const size = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-1, -0, 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 1e300, "1", null, true));
    fc.assert(
      fc.property(goodDigest, size, (digest, value) => {
        const result = descriptorSchema.safeParse({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: value });
        assert.equal(result.success, typeof value === "number" && Number.isSafeInteger(value) && value >= 0, String(value));
      }),
      bounded(2000, 1000),
    );
  });
});

/** A valid pypakr image config for these layers. */
function imageConfig(layerDigests: string[], relocationPaths: string[]): ImageConfig {
  return {
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layerDigests },
    pypakr: {
      formatVersion: 2,
      python: { implementation: "cpython", version: "3.11.7", abiFlags: "", soabi: "cpython-311-x86_64-linux-gnu", os: "linux", machine: "x86_64", libc: "glibc", libcVersion: "2.36" },
      base: { kind: "cpython-3.11-linux-x86_64", manifestDigest: `sha256:${"0".repeat(64)}` },
      entrypoint: ["run"],
      environment: {},
      distributions: [],
      relocation: { placeholder: "/pypakr-placeholder-prefix-____", files: relocationPaths.map((file) => ({ path: file, kind: "text" as const })) },
      created: "1970-01-01T00:00:00Z",
    },
  };
}

/** Replaces the value at a path inside a JSON document (cloned), or adds it there. */
function setAt(document: unknown, route: (string | number)[], value: unknown): unknown {
  if (route.length === 0) return value;
  const [head, ...rest] = route;
  if (Array.isArray(document)) {
    const copy = [...(document as unknown[])];
    const index = typeof head === "number" ? head % (copy.length + 1) : 0;
    copy[index] = setAt(copy[index], rest, value);
    return copy;
  }
  if (document && typeof document === "object") {
    const keys = Object.keys(document);
    const key = typeof head === "number" && keys.length > 0 ? (keys[head % keys.length] as string) : String(head);
    return { ...(document as Record<string, unknown>), [key]: setAt((document as Record<string, unknown>)[key], rest, value) };
  }
  return value;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

describe("fuzz: openImage", () => {
  let scratch = "";
  before(async () => {
    scratch = await makeTempDir("pypakr-fuzz-format-");
  });
  after(async () => {
    await removeDir(scratch);
  });

  /** Puts the manifest and config blobs (and layers of the sizes listed) in a fresh dir and opens the image. */
  async function open(manifest: unknown, config: unknown, layers: Buffer[]) {
    const dir = await fs.mkdtemp(path.join(scratch, "image-"));
    const sizes = new Map<string, number>();
    const put = async (bytes: Buffer) => {
      const digest = sha256(bytes);
      await fs.writeFile(path.join(dir, digest.slice(7)), bytes);
      sizes.set(digest, bytes.length);
      return digest;
    };
    for (const layer of layers) await put(layer);
    const configBytes = Buffer.from(JSON.stringify(config) ?? "null");
    await put(configBytes);
    const manifestBytes = Buffer.from(JSON.stringify(manifest) ?? "null");
    const manifestDigest = await put(manifestBytes);
    try {
      return await openImage("fuzz.tar", { mediaType: MEDIA_TYPE_MANIFEST, digest: manifestDigest, size: manifestBytes.length }, { size: (digest) => Promise.resolve(sizes.get(digest)), file: (digest) => path.join(dir, digest.replace(/^sha256:/, "")) });
    } finally {
      await removeDir(dir);
    }
  }

  function validImage(layerCount: number, relocationPaths: string[]) {
    const layers = Array.from({ length: layerCount }, (_, index) => Buffer.from(`layer ${index}`));
    const config = imageConfig(layers.map(sha256), relocationPaths);
    const configBytes = Buffer.from(JSON.stringify(config));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_MANIFEST,
      config: { mediaType: MEDIA_TYPE_CONFIG, digest: sha256(configBytes), size: configBytes.length },
      layers: layers.map((layer) => ({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest: sha256(layer), size: layer.length })),
    };
    return { layers, config, manifest };
  }

  const route = fc.array(fc.oneof(fc.nat(5), fc.constantFrom("digest", "size", "mediaType", "layers", "config", "schemaVersion", "pypakr", "relocation", "files", "path")), { maxLength: 5 });

  test("a damaged manifest or config either opens as a sound image or is refused with a PypakrError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(3), fc.boolean(), route, fc.oneof(nearJson, anyDigest), async (layerCount, inConfig, where, value) => {
        const { layers, config, manifest } = validImage(layerCount, ["bin/activate"]);
        // The manifest names the config by digest, so a damaged config is written and then named correctly.
        let damagedManifest: unknown = manifest;
        let damagedConfig: unknown = config;
        if (inConfig) {
          damagedConfig = setAt(config, where, value);
          const bytes = Buffer.from(JSON.stringify(damagedConfig) ?? "null");
          damagedManifest = { ...manifest, config: { ...manifest.config, digest: sha256(bytes), size: bytes.length } };
        } else {
          damagedManifest = setAt(manifest, where, value);
        }
        let image;
        try {
          image = await open(damagedManifest, damagedConfig, layers);
        } catch (error) {
          assert.ok(error instanceof PypakrError, `openImage threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
          assert.match(error.message, /^fuzz\.tar is not a usable pypakr image: /);
          return;
        }
        // What opens is sound: digests well-formed, layers present, tables in agreement.
        assert.ok(modelDigest(image.manifest.config.digest));
        for (const layer of image.manifest.layers) assert.ok(modelDigest(layer.digest));
        assert.equal(image.config.rootfs.diff_ids.length, image.manifest.layers.length);
        for (const file of image.config.pypakr.relocation.files) assert.ok(!file.path.startsWith("/") && !file.path.split("/").includes(".."), file.path);
      }),
      bounded(300, 3000),
    );
  });

  test("relocation tables naming unsafe paths are refused; plain relative paths are accepted", async () => {
    const relocationPath = fc.oneof(
      fc.constantFrom("bin/activate", "a/b", "/etc/passwd", "../x", "a/../../x", "./a", "a//b", "a/", "", "a\\b", "a\0b", "C:x", ".", "a/."),
      fc.array(fc.constantFrom("a", "..", ".", "", "b"), { minLength: 1, maxLength: 4 }).map((parts) => parts.join("/")),
    );
    await fc.assert(
      fc.asyncProperty(relocationPath, async (file) => {
        const { layers, config, manifest } = validImage(1, [file]);
        const configBytes = Buffer.from(JSON.stringify(config));
        const fixed = { ...manifest, config: { ...manifest.config, digest: sha256(configBytes), size: configBytes.length } };
        const plain = file !== "" && file.split("/").every((part) => part !== "" && part !== "." && part !== "..") && !/[\\\0]/.test(file) && !/^[A-Za-z]:/.test(file);
        const opened = await open(fixed, config, layers).then(
          () => true,
          (error: unknown) => {
            assert.ok(error instanceof PypakrError, String(error));
            return false;
          },
        );
        assert.equal(opened, plain, JSON.stringify(file));
      }),
      bounded(150, 2000),
    );
  });
});
