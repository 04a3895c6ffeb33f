/**
 * IndexedTag values as the hub's indexer makes them, for tests and figures of
 * the index (src/hub/index-db.ts) without a registry.
 */
import { createHash } from "node:crypto";
import type { IndexedLayer, IndexedTag } from "../../src/hub/types.js";

export function fakeDigest(seed: string): string {
  return `sha256:${createHash("sha256").update(seed).digest("hex")}`;
}

/** A pypakr tag holding these distributions ("name==version"), one layer each, then its app-files layer. */
export function pypakrTag(repository: string, tag: string, distributions: string[], overrides: Partial<IndexedTag> = {}): IndexedTag {
  const layers: IndexedLayer[] = distributions.map((pin) => {
    const [name = "", version = ""] = pin.split("==");
    return {
      digest: fakeDigest(`layer:${pin}`),
      mediaType: "application/vnd.oci.image.layer.v1.tar+zstd",
      size: 1000 + pin.length,
      distribution: {
        name,
        version,
        wheelTags: ["py3-none-any"],
        metadata: { licenseExpression: "MIT", license: null, licenseClassifiers: [], requiresPython: ">=3.9", summary: `${name} summary`, homepage: null },
      },
    };
  });
  layers.push({ digest: fakeDigest(`app:${repository}:${tag}`), mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", size: 500 });
  return {
    repository,
    tag,
    digest: fakeDigest(`manifest:${repository}:${tag}:${distributions.join(",")}`),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    pushedAt: "2026-11-30T12:00:00.000Z",
    pushedBy: null,
    compressedSize: layers.reduce((sum, layer) => sum + layer.size, 0),
    kind: "pypakr",
    platforms: ["linux/amd64"],
    created: "2026-11-30T11:59:00.000Z",
    python: { implementation: "cpython", version: "3.11.7", soabi: "cpython-311-x86_64-linux-gnu", kind: "venv" },
    entrypoint: ["app"],
    environment: {},
    layers,
    ...overrides,
  };
}

/** An ordinary (non-pypakr) image's tag: no distributions. */
export function ordinaryTag(repository: string, tag: string, overrides: Partial<IndexedTag> = {}): IndexedTag {
  return pypakrTag(repository, tag, [], { kind: "ordinary", python: null, layers: [{ digest: fakeDigest(`ordinary:${repository}:${tag}`), mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", size: 2000 }], ...overrides });
}

/** A time `minutes` after a fixed start, as UTC ISO: pushes in a known order. */
export function minutesAfterStart(minutes: number): string {
  return new Date(Date.UTC(2026, 10, 30, 0, 0, 0) + minutes * 60_000).toISOString();
}
