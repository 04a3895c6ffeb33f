/**
 * A registry in memory for the hub's unit tests (the indexer, reconcile, the
 * server), with real pypakr images: zstd tar layers holding each
 * distribution's METADATA and a config pypakr's format accepts.
 */
import { Readable } from "node:stream";
import { zstdCompressSync } from "node:zlib";
import type { ManifestDocumentLike, RegistryPort } from "../../src/hub/parts.js";
import { imageDocuments } from "../../src/image/archive.js";
import { type Descriptor, imageConfigSchema } from "../../src/image/format.js";
import type { WrittenLayer } from "../../src/image/layer-writer.js";
import { PypakrError } from "../../src/util/errors.js";
import { sha256Digest } from "../../src/util/hash.js";
import { tarOf } from "./tar.js";

const ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

/** A registry in memory: blobs and manifests by digest, tags by repository. */
export class MemoryRegistry implements RegistryPort {
  readonly registry = "registry.test";
  readonly blobs = new Map<string, Buffer>();
  readonly repos = new Map<string, Map<string, string>>();
  readonly opened: string[] = [];
  /** References whose manifest read fails (a broken image). */
  readonly broken = new Set<string>();
  /** Called after the catalog yields each repository: a notification may arrive in the middle of a walk. */
  afterEach: (repository: string) => void = () => {};

  put(repository: string, tag: string, manifest: Buffer, blobs: Buffer[]): string {
    for (const blob of [manifest, ...blobs]) this.blobs.set(sha256Digest(blob), blob);
    const digest = sha256Digest(manifest);
    const tags = this.repos.get(repository) ?? new Map<string, string>();
    tags.set(tag, digest);
    this.repos.set(repository, tags);
    return digest;
  }

  async *repositories(): AsyncGenerator<string> {
    for (const repository of [...this.repos.keys()].sort()) {
      yield await Promise.resolve(repository);
      this.afterEach(repository);
    }
  }

  tags(repository: string): Promise<string[]> {
    return Promise.resolve([...(this.repos.get(repository)?.keys() ?? [])].sort());
  }

  manifest(repository: string, reference: string): Promise<ManifestDocumentLike> {
    if (this.broken.has(`${repository}:${reference}`)) return Promise.reject(new PypakrError("the registry failed", { code: "registry-failed" }));
    const digest = reference.startsWith("sha256:") ? reference : this.repos.get(repository)?.get(reference);
    const bytes = digest === undefined ? undefined : this.blobs.get(digest);
    if (digest === undefined || bytes === undefined) return Promise.reject(new PypakrError(`no ${repository}:${reference}`, { code: "registry-not-found" }));
    const json = JSON.parse(bytes.toString("utf8")) as { mediaType?: string };
    return Promise.resolve({ bytes, digest, json, mediaType: json.mediaType ?? "" });
  }

  openBlob(_repository: string, descriptor: Descriptor): Promise<Readable> {
    this.opened.push(descriptor.digest);
    return Promise.resolve(Readable.from([this.blobs.get(descriptor.digest) ?? Buffer.alloc(0)]));
  }

  readBlob(_repository: string, descriptor: Descriptor): Promise<Buffer> {
    return Promise.resolve(this.blobs.get(descriptor.digest) ?? Buffer.alloc(0));
  }

  /** Deletes the manifest as 2.8 does: every tag of the repository on that digest. */
  deleteManifest(repository: string, digest: string): Promise<void> {
    for (const [tag, named] of this.repos.get(repository) ?? []) if (named === digest) this.repos.get(repository)?.delete(tag);
    return Promise.resolve();
  }

  /** Basic headers the registry accepts, and how often it was asked. */
  readonly accepted = new Set<string>();
  asked = 0;
  acceptsAuthorization(header: string): Promise<boolean> {
    this.asked += 1;
    return Promise.resolve(this.accepted.has(header));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function distributionLayer(name: string, version: string, license: string): Buffer {
  const metadata = `Metadata-Version: 2.4\nName: ${name}\nVersion: ${version}\nLicense-Expression: ${license}\nRequires-Python: >=3.9\n`;
  return zstdCompressSync(tarOf([{ name: `lib/python3.11/site-packages/${name}-${version}.dist-info/METADATA`, body: metadata }]));
}

/** A pypakr image of these distributions ([name, version, license]) and an app-files layer. */
export function pypakrImage(distributions: [string, string, string][]): { manifest: Buffer; blobs: Buffer[] } {
  const layers = [...distributions.map(([name, version, license]) => distributionLayer(name, version, license)), zstdCompressSync(tarOf([{ name: "run", body: "#!/bin/sh\n" }]))];
  const written = layers.map((bytes): WrittenLayer => ({ file: "", digest: sha256Digest(bytes), size: bytes.length, diffId: sha256Digest(bytes), mediaType: ZSTD }));
  const config = imageConfigSchema.parse({
    created: "2026-11-30T12:00:00Z",
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: written.map((layer) => layer.diffId) },
    pypakr: {
      formatVersion: 2,
      python: { implementation: "cpython", version: "3.11.7", abiFlags: "", soabi: "cpython-311-x86_64-linux-gnu", os: "linux", machine: "x86_64", libc: "glibc", libcVersion: "2.36" },
      base: { kind: "cpython-3.11-linux-x86_64", manifestDigest: `sha256:${"0".repeat(64)}` },
      entrypoint: ["python", "-m", "app"],
      environment: {},
      distributions: distributions.map(([name, version], at) => ({ name, version, layer: written[at]?.digest, wheelTags: ["py3-none-any"] })),
      relocation: { placeholder: "/pypakr-placeholder-for-a-relocatable-venv", files: [] },
      created: "2026-11-30T12:00:00Z",
    },
  });
  const { configBytes, manifestBytes } = imageDocuments(config, written);
  return { manifest: manifestBytes, blobs: [configBytes, ...layers] };
}

