/**
 * Reading and rewriting image archives in tests, independently of pypakr's
 * own reader: system tar to look inside, and a re-packer that recomputes
 * digests so a test can craft an image that is wrong in exactly one way.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import tar from "tar-stream";
import { makeTempDir, removeDir, sh } from "./helpers.js";
import { layerMediaTypeOf, tarOf, uncompressedLayer } from "./tar.js";

export type ArchiveFiles = Map<string, Buffer>;

export async function readArchive(file: string): Promise<ArchiveFiles> {
  const files: ArchiveFiles = new Map();
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (entry.header.type === "file") files.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  extract.end(await fs.readFile(file));
  await done;
  return files;
}

export async function writeArchive(file: string, files: ArchiveFiles): Promise<void> {
  await fs.writeFile(file, tarOf([...files].map(([name, body]) => ({ name, body }))));
}

export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

interface Manifest {
  config: { digest: string; size: number };
  layers: { digest: string; size: number; mediaType: string }[];
  [key: string]: unknown;
}

export interface ImageParts {
  index: { manifests: { digest: string; size: number }[] } & Record<string, unknown>;
  manifest: Manifest;
  config: Record<string, unknown> & { pypakr: Record<string, unknown>; rootfs: { diff_ids: string[] } };
  layers: Buffer[];
}

export async function imageParts(file: string): Promise<ImageParts> {
  const files = await readArchive(file);
  const blob = (digest: string) => files.get(`blobs/sha256/${digest.slice(7)}`) as Buffer;
  const index = JSON.parse((files.get("index.json") as Buffer).toString()) as ImageParts["index"];
  const manifest = JSON.parse(blob(index.manifests[0]?.digest ?? "").toString()) as Manifest;
  return {
    index,
    manifest,
    config: JSON.parse(blob(manifest.config.digest).toString()) as ImageParts["config"],
    layers: manifest.layers.map((layer) => blob(layer.digest)),
  };
}

/** Writes an image from parts, with every digest and size made consistent again. */
export async function writeImage(file: string, parts: ImageParts): Promise<void> {
  const files: ArchiveFiles = new Map([["oci-layout", Buffer.from('{"imageLayoutVersion":"1.0.0"}')]]);
  const add = (bytes: Buffer) => {
    const digest = digestOf(bytes);
    files.set(`blobs/sha256/${digest.slice(7)}`, bytes);
    return { digest, size: bytes.length };
  };
  const oldLayers = parts.manifest.layers;
  // A replaced layer may be of another codec than the one it replaces: its media type follows its bytes.
  parts.manifest.layers = parts.layers.map((layer, index) => ({ ...oldLayers[index], mediaType: layerMediaTypeOf(layer), ...add(layer) }));
  parts.config.rootfs.diff_ids = parts.layers.map((layer) => digestOf(uncompressedLayer(layer)));
  const distributions = (parts.config.pypakr?.distributions ?? []) as { layer: string }[];
  distributions.forEach((distribution) => {
    const index = oldLayers.findIndex((layer) => layer.digest === distribution.layer);
    distribution.layer = parts.manifest.layers[index]?.digest ?? distribution.layer;
  });
  parts.manifest.config = { ...parts.manifest.config, ...add(Buffer.from(JSON.stringify(parts.config))) };
  const manifest = add(Buffer.from(JSON.stringify(parts.manifest)));
  parts.index.manifests = [{ ...parts.index.manifests[0], ...manifest }];
  files.set("index.json", Buffer.from(JSON.stringify(parts.index)));
  await writeArchive(file, files);
}

/** Names of every entry of every layer, as system tar sees them (each layer decompressed here: gzip or zstd). */
export async function layerEntryNames(image: string): Promise<string[]> {
  const dir = await makeTempDir();
  try {
    const parts = await imageParts(image);
    const names: string[] = [];
    for (const [index, layer] of parts.layers.entries()) {
      const file = path.join(dir, `layer-${index}.tar`);
      await fs.writeFile(file, uncompressedLayer(layer));
      const result = sh(`tar -tf '${file}'`);
      if (result.code !== 0) throw new Error(result.stderr);
      names.push(...result.stdout.split("\n").filter(Boolean));
    }
    return names;
  } finally {
    await removeDir(dir);
  }
}

/** Whether any layer's uncompressed bytes contain `text`. */
export async function layersContain(image: string, text: string): Promise<boolean> {
  const parts = await imageParts(image);
  return parts.layers.some((layer) => uncompressedLayer(layer).includes(text));
}


