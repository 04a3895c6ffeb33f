/**
 * pypakr-shaped images made in memory, for the hub's tests and its bench:
 * one real tar+zstd layer per distribution holding its
 * `lib/python3.X/site-packages/NAME-VER.dist-info/METADATA` (License,
 * Requires-Python, Summary...) as pip would install it, then an app-files
 * layer, and a config that pypakr's own format check accepts; and a pusher
 * that sends them to a registry over HTTP (the blob upload and manifest API,
 * mounting the blobs another repository already holds), far faster than one
 * `pypakr push` per image.
 *
 * The same distribution spec always gives the same layer bytes, so images
 * made from a shared pool share layers, as real pypakr images do.
 */
import { zstdCompressSync, constants as zlib } from "node:zlib";
import { imageDocuments } from "../../src/image/archive.js";
import { imageConfigSchema, type ImageConfig } from "../../src/image/format.js";
import { MEDIA_TYPE_LAYER_ZSTD, MEDIA_TYPE_MANIFEST } from "../../src/image/media-types.js";
import type { WrittenLayer } from "../../src/image/layer-writer.js";
import { sha256Digest, type Digest } from "../../src/util/hash.js";
import { tarOf, type TarEntry } from "./tar.js";

export interface DistributionSpec {
  /** As the distribution spells it (METADATA's Name). */
  name: string;
  version: string;
  licenseExpression?: string;
  license?: string;
  /** Without the "License :: " prefix, e.g. "OSI Approved :: MIT License". */
  licenseClassifiers?: string[];
  requiresPython?: string;
  summary?: string;
  homepage?: string;
  /** Bytes of module code in the layer besides the dist-info (default 600): layers of different sizes. */
  codeBytes?: number;
}

export interface Blob {
  digest: Digest;
  bytes: Buffer;
}

export interface LayerBlob extends Blob {
  /** Digest of the uncompressed tar (the config's rootfs.diff_ids). */
  diffId: Digest;
}

export interface DistributionLayer extends LayerBlob {
  spec: DistributionSpec;
}

export interface MadeImage {
  manifest: Blob;
  config: Blob;
  /** Distribution layers (sorted by name, as pypakr writes them), then the app-files layer. */
  layers: LayerBlob[];
  distributions: DistributionSpec[];
}

/** The interpreter every made image claims (its site-packages path follows). */
export const PYTHON_VERSION = "3.11.7";
const SITE_PACKAGES = "lib/python3.11/site-packages";

/** PEP 503's normalized name. */
export function normalizedName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

/** The dist-info directory's name as pip writes it (the name with - and . turned to _). */
function distInfoName(spec: DistributionSpec): string {
  return `${spec.name.replace(/[-.]+/g, "_")}-${spec.version}.dist-info`;
}

/** METADATA as a wheel carries it (core metadata 2.4: email headers, then the description). */
export function metadataText(spec: DistributionSpec): string {
  const lines = ["Metadata-Version: 2.4", `Name: ${spec.name}`, `Version: ${spec.version}`];
  if (spec.summary !== undefined) lines.push(`Summary: ${spec.summary}`);
  if (spec.homepage !== undefined) lines.push(`Project-URL: Homepage, ${spec.homepage}`);
  if (spec.licenseExpression !== undefined) lines.push(`License-Expression: ${spec.licenseExpression}`);
  if (spec.license !== undefined) lines.push(`License: ${spec.license}`);
  for (const classifier of spec.licenseClassifiers ?? []) lines.push(`Classifier: License :: ${classifier}`);
  lines.push("Classifier: Programming Language :: Python :: 3");
  if (spec.requiresPython !== undefined) lines.push(`Requires-Python: ${spec.requiresPython}`);
  lines.push("Description-Content-Type: text/markdown", "", `# ${spec.name}`, "", spec.summary ?? "", "");
  return lines.join("\n");
}

/** Deterministic filler text, so a layer's bytes depend only on its spec. */
function filler(seed: string, bytes: number): string {
  let text = "";
  let counter = 0;
  while (text.length < bytes) text += `# ${sha256Digest(`${seed}:${counter++}`).slice(7)}\nvalue_${counter} = ${counter * 7}\n`;
  return text.slice(0, bytes);
}

function zstdLayer(entries: TarEntry[]): LayerBlob {
  const tar = tarOf(entries);
  // Level 3: what is measured is the hub, not the compressor (pypakr itself writes level 10).
  const bytes = zstdCompressSync(tar, { params: { [zlib.ZSTD_c_compressionLevel]: 3 } });
  return { bytes, digest: sha256Digest(bytes), diffId: sha256Digest(tar) };
}

/** A distribution's layer: its package directory and its dist-info (METADATA, WHEEL, RECORD), paths relative to the venv. */
export function distributionLayer(spec: DistributionSpec): DistributionLayer {
  const module = normalizedName(spec.name).replace(/-/g, "_");
  const distInfo = `${SITE_PACKAGES}/${distInfoName(spec)}`;
  const code = filler(`${spec.name}-${spec.version}`, spec.codeBytes ?? 600);
  const metadata = metadataText(spec);
  const wheel = "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
  const record = [`${module}/__init__.py,,`, `${distInfo.slice(SITE_PACKAGES.length + 1)}/METADATA,,`, `${distInfo.slice(SITE_PACKAGES.length + 1)}/WHEEL,,`, `${distInfo.slice(SITE_PACKAGES.length + 1)}/RECORD,,`, ""].join("\n");
  const entries: TarEntry[] = [
    { name: `${SITE_PACKAGES}/${module}/`, type: "directory" },
    { name: `${SITE_PACKAGES}/${module}/__init__.py`, body: code },
    { name: `${distInfo}/`, type: "directory" },
    { name: `${distInfo}/METADATA`, body: metadata },
    { name: `${distInfo}/RECORD`, body: record },
    { name: `${distInfo}/WHEEL`, body: wheel },
  ];
  return { ...zstdLayer(entries), spec };
}

/** The app-files layer: what is left of a build after its distributions. */
export function appLayer(files: Record<string, string>): LayerBlob {
  return zstdLayer(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)).map(([name, body]) => ({ name, body })));
}

/** Cache of distribution layers by name and version: a pool's layers are made once. */
export class LayerPool {
  private readonly layers = new Map<string, DistributionLayer>();

  layer(spec: DistributionSpec): DistributionLayer {
    const key = `${normalizedName(spec.name)}==${spec.version}`;
    let layer = this.layers.get(key);
    if (!layer) {
      layer = distributionLayer(spec);
      this.layers.set(key, layer);
    }
    return layer;
  }

  get size(): number {
    return this.layers.size;
  }
}

/**
 * An image of these distributions' layers (one each, sorted by normalized
 * name as pypakr writes them) and an app-files layer, with a config that
 * passes pypakr's format check.
 */
export function pypakrImage(distributions: DistributionLayer[], app: LayerBlob, options: { created?: string; entrypoint?: string[]; environment?: Record<string, string> } = {}): MadeImage {
  const sorted = [...distributions].sort((a, b) => normalizedName(a.spec.name).localeCompare(normalizedName(b.spec.name)) || a.spec.version.localeCompare(b.spec.version));
  const layers: LayerBlob[] = [...sorted, app];
  const created = options.created ?? "2026-11-30T12:00:00Z";
  const config: ImageConfig = imageConfigSchema.parse({
    created,
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layers.map((layer) => layer.diffId) },
    pypakr: {
      formatVersion: 2,
      python: { implementation: "cpython", version: PYTHON_VERSION, abiFlags: "", soabi: "cpython-311-x86_64-linux-gnu", os: "linux", machine: "x86_64", libc: "glibc", libcVersion: "2.36" },
      base: { kind: "cpython-3.11-linux-x86_64", manifestDigest: `sha256:${"0".repeat(64)}` },
      entrypoint: options.entrypoint ?? ["python", "-m", "app"],
      environment: options.environment ?? {},
      distributions: sorted.map((layer) => ({ name: layer.spec.name, version: layer.spec.version, layer: layer.digest, wheelTags: ["py3-none-any"] })),
      relocation: { placeholder: "/pypakr-placeholder-for-a-relocatable-venv", files: [] },
      created,
    },
  });
  const written = layers.map((layer): WrittenLayer => ({ file: "", digest: layer.digest, size: layer.bytes.length, diffId: layer.diffId, mediaType: MEDIA_TYPE_LAYER_ZSTD }));
  const { configBytes, manifestBytes } = imageDocuments(config, written);
  return {
    manifest: { bytes: manifestBytes, digest: sha256Digest(manifestBytes) },
    config: { bytes: configBytes, digest: sha256Digest(configBytes) },
    layers,
    distributions: sorted.map((layer) => layer.spec),
  };
}

export interface PusherOptions {
  /** An `Authorization` header for every request (e.g. Basic for an htpasswd registry). */
  authorization?: string;
  /** Per request (default 30 s). */
  timeoutMs?: number;
}

/**
 * Pushes made images to a registry over its HTTP API: each blob the
 * repository lacks is mounted from a repository this pusher put it in
 * before, else uploaded (POST, then PUT with the digest); then the manifest
 * is PUT by tag. Remembers what it pushed where, so it asks nothing it knows.
 */
export class RegistryPusher {
  private readonly holder = new Map<string, string>();
  private readonly held = new Map<string, Set<string>>();
  /** Requests sent, by kind: what a push cost. */
  readonly requests = { mount: 0, upload: 0, manifest: 0 };

  /** `base`: "http://127.0.0.1:PORT". */
  constructor(
    private readonly base: string,
    private readonly options: PusherOptions = {},
  ) {}

  private async request(method: string, url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
    const response = await fetch(new URL(url, this.base), {
      method,
      headers: { ...headers, ...(this.options.authorization ? { authorization: this.options.authorization } : {}) },
      ...(body ? { body: new Uint8Array(body) } : {}),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
    });
    return response;
  }

  private async expect(response: Response, statuses: number[], what: string): Promise<Response> {
    if (!statuses.includes(response.status)) throw new Error(`${what}: the registry answered ${response.status}: ${(await response.text()).slice(0, 500)}`);
    return response;
  }

  private async pushBlob(repository: string, blob: Blob): Promise<void> {
    const mine = this.held.get(repository) ?? new Set<string>();
    this.held.set(repository, mine);
    if (mine.has(blob.digest)) return;
    const uploads = `/v2/${repository}/blobs/uploads/`;
    const from = this.holder.get(blob.digest);
    let started: Response;
    if (from !== undefined) {
      this.requests.mount++;
      started = await this.expect(await this.request("POST", `${uploads}?mount=${blob.digest}&from=${encodeURIComponent(from)}`), [201, 202], `mounting ${blob.digest} into ${repository}`);
    } else {
      started = await this.expect(await this.request("POST", uploads), [202], `starting an upload to ${repository}`);
    }
    if (started.status === 202) {
      await started.body?.cancel();
      this.requests.upload++;
      const location = new URL(started.headers.get("location") ?? "", this.base);
      location.searchParams.set("digest", blob.digest);
      await this.expect(await this.request("PUT", location.href, blob.bytes, { "content-type": "application/octet-stream" }), [201], `uploading ${blob.digest} to ${repository}`);
    } else {
      await started.body?.cancel();
    }
    mine.add(blob.digest);
    this.holder.set(blob.digest, repository);
  }

  /** Pushes the image's blobs (up to 4 at a time) and then its manifest as `repository:tag`. */
  async push(repository: string, tag: string, image: MadeImage): Promise<void> {
    const blobs: Blob[] = [image.config, ...image.layers];
    for (let index = 0; index < blobs.length; index += 4) await Promise.all(blobs.slice(index, index + 4).map((blob) => this.pushBlob(repository, blob)));
    this.requests.manifest++;
    const response = await this.request("PUT", `/v2/${repository}/manifests/${tag}`, image.manifest.bytes, { "content-type": MEDIA_TYPE_MANIFEST });
    await this.expect(response, [201], `putting the manifest of ${repository}:${tag}`);
    await response.body?.cancel();
  }
}

/** Runs `work` over `items` with at most `concurrency` at a time; the first failure rejects (the rest still settle). */
export async function inParallel<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const worker = async () => {
    while (next < items.length && failures.length === 0) {
      const index = next++;
      try {
        await work(items[index] as T, index);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failures.length > 0) throw failures[0] instanceof Error ? failures[0] : new Error(String(failures[0]));
}
