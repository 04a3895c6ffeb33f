/**
 * `pypakr export`: a pypakr image made into an ordinary container image that
 * Docker, podman, Kubernetes, Knative and Cloud Run run as it is: the
 * runtime image's layers (the interpreter and its OS, unchanged, so a
 * registry that has the runtime already has them), a venv skeleton for that
 * interpreter, and the pypakr image's layers under the venv's path,
 * relocated. Everything that can refuse the export (the image, the runtime,
 * its Python) is checked before the output is written; the output is
 * written beside its path and renamed into place when whole.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { glob } from "node:fs/promises";
import { type Base, chooseBase } from "../base/index.js";
import { checkOutputFile, type Config } from "../config/index.js";
import { type Compression, type Image, ociArchitecture, type OrdinaryImage, readOrdinaryArchive, unsafePrefixReason, writeBlobsArchive, writeLayer, type WrittenLayer } from "../image/index.js";
import { ensureLocalImage, fetchOrdinaryImage, formatReference, parseReference, pushOrdinaryImage, type TransportOptions } from "../registry/index.js";
import { acquireImage, loadImage, Store } from "../store/index.js";
import { PypakrError } from "../util/errors.js";
import { removeTree } from "../util/fs.js";
import { decompressLayer } from "../util/tar.js";
import { progress } from "../util/log.js";
import { checkRuntimeMatches } from "./compatibility.js";
import { exportedDocuments, type ExportedDocuments } from "./config.js";
import { writeDockerArchive } from "./docker-archive.js";
import { skeletonEntries, venvLayerEntries } from "./layers.js";
import { compileLayers } from "./bytecode.js";
import { chmodTree } from "./readable.js";
import { LayerCache } from "./layer-cache.js";
import { askRuntimePython, knownRuntimePython, rememberRuntimePython, type RuntimePython, unpackRootfs } from "./runtime-python.js";

export type ExportFormat = "oci-archive" | "docker-archive";
export const DEFAULT_VENV = "/app/venv";

export interface ExportOptions extends TransportOptions {
  /** The pypakr image: a file, a stored tag or digest, or a registry reference. */
  image: string;
  /** The runtime: a registry reference, or oci-archive:PATH[:REF]. */
  runtime: string;
  output?: string;
  format: ExportFormat;
  /** Also push the result here (HOST/REPO:TAG). */
  push?: string;
  venv: string;
  compression: Compression;
  /** org.opencontainers.image.source, if the user names one. */
  source?: string;
}

export interface ExportResult {
  digest: string;
  /** The runtime's layers, and the ones the export added (skeleton first). */
  runtimeLayers: number;
  addedLayers: WrittenLayer[];
  runtime: { source: string; digest: string; python: RuntimePython };
  output?: { file: string; size: number };
  /** Where it was pushed, and the same image by digest (what a cluster should pull: a tag can move). */
  pushed?: { reference: string; digest: string; byDigest: string };
  /** The image's layers' compressed bytes: the runtime's and the added ones. */
  runtimeBytes: number;
  addedBytes: number;
}

const ARCHIVE_PREFIX = "oci-archive:";

/** `oci-archive:PATH[:REF]` (skopeo's form) as a path and an optional ref name; null for a registry reference. */
export async function parseRuntimeArchive(runtime: string): Promise<{ file: string; refName?: string } | null> {
  if (!runtime.startsWith(ARCHIVE_PREFIX)) return null;
  const rest = runtime.slice(ARCHIVE_PREFIX.length);
  if ((await fs.lstat(rest).catch(() => null))?.isFile()) return { file: rest };
  const colon = rest.lastIndexOf(":");
  if (colon > 0) return { file: rest.slice(0, colon), refName: rest.slice(colon + 1) };
  return { file: rest };
}

/** The venv's path inside the image: absolute, plain, short enough, not where the OS keeps its own. */
export function checkVenvPath(venv: string): string {
  const trimmed = venv.length > 1 ? venv.replace(/\/+$/, "") : venv;
  const normalized = path.posix.normalize(trimmed);
  const problem = !path.posix.isAbsolute(venv)
    ? "is not absolute"
    : normalized !== trimmed || normalized === "/"
      ? "is not a plain path (no ., .., // or / alone)"
      : /^\/(?:proc|sys|dev|tmp|etc|usr|bin|sbin|lib|lib32|lib64|libx32|run|var|boot)(?:\/|$)/.test(normalized)
        ? "is where the runtime's OS keeps its own files"
        : !/^[A-Za-z0-9._/-]+$/.test(normalized)
          ? "holds characters other than letters, digits and ._-/"
          : (unsafePrefixReason(normalized) ?? null);
  if (problem) throw new PypakrError(`--venv ${venv} ${problem}`, { code: "usage", hint: `Pass an absolute path of your own, e.g. --venv ${DEFAULT_VENV} (the default).` });
  return normalized;
}

async function openRuntime(config: Config, runtime: string, image: Image, work: string, options: TransportOptions): Promise<{ image: OrdinaryImage; name?: string }> {
  const platform = { os: image.config.pypakr.python.os, architecture: ociArchitecture(image.config.pypakr.python.machine) };
  const archive = await parseRuntimeArchive(runtime);
  if (archive) {
    const dir = path.join(work, "runtime");
    await fs.mkdir(dir);
    return { image: await readOrdinaryArchive(archive.file, dir, { platform, ...(archive.refName ? { refName: archive.refName } : {}) }) };
  }
  const cache = path.join(config.pypakrDir, "runtimes");
  return { image: await fetchOrdinaryImage(runtime, cache, { ...options, platform }), name: runtime };
}

/** The runtime must be for the image's platform. */
function checkPlatform(runtime: OrdinaryImage, image: Image): void {
  const wanted = { os: image.config.pypakr.python.os, architecture: ociArchitecture(image.config.pypakr.python.machine) };
  const { os: runtimeOs, architecture } = runtime.config;
  if (runtimeOs !== wanted.os || architecture !== wanted.architecture) {
    throw new PypakrError(`runtime ${runtime.source} is for ${runtimeOs}/${architecture}, but image ${image.source} is for ${wanted.os}/${wanted.architecture}`, { code: "python-mismatch", hint: `Use a runtime image for ${wanted.os}/${wanted.architecture}.` });
  }
}

/** The config's diff_ids, which the exported config repeats: one per layer, each what the layer really unpacks to. */
async function checkDiffIds(runtime: OrdinaryImage): Promise<void> {
  const { layers } = runtime.manifest;
  const diffIds = runtime.config.rootfs.diff_ids;
  const damaged = (problem: string) => new PypakrError(`runtime ${runtime.source} ${problem}`, { code: "runtime-unusable", hint: "The runtime image is damaged or was crafted; use another." });
  if (diffIds.length !== layers.length) throw damaged(`lists ${layers.length} layers but ${diffIds.length} diff_ids in its config`);
  for (const [index, layer] of layers.entries()) {
    const { digest } = await decompressLayer(runtime.blobFile(layer.digest), null);
    if (digest !== diffIds[index]) throw damaged(`has a layer ${index + 1} that unpacks to ${digest}, not the ${diffIds[index]} its config lists`);
  }
}

/**
 * A copy of pip's vendored `packaging` from the base, in `work`, for the
 * probe's list of wheel tags (null when this base has no pip). A copy, since
 * the probe may run as nobody, who cannot reach into pypakr's home.
 */
async function vendoredPackaging(baseDir: string, work: string): Promise<string | null> {
  for await (const found of glob("lib/python*/site-packages/pip/_vendor/packaging/tags.py", { cwd: baseDir })) {
    const copy = path.join(work, "probe");
    await fs.cp(path.dirname(path.join(baseDir, found)), path.join(copy, "packaging"), { recursive: true, filter: (source) => !source.includes("__pycache__") });
    await chmodTree(copy);
    return copy;
  }
  return null;
}


/** The runtime's layers unpacked into `work/rootfs`, once, when first needed (the probe, the bytecode). */
function lazyRootfs(runtime: OrdinaryImage, work: string, maxEntries: number): () => Promise<string> {
  let unpacked: Promise<string> | undefined;
  return () =>
    (unpacked ??= (async () => {
      const rootfs = path.join(work, "rootfs");
      await fs.mkdir(rootfs);
      await unpackRootfs(runtime, rootfs, maxEntries);
      return rootfs;
    })());
}

/**
 * The runtime's Python: asked once per runtime digest (its layers checked
 * against the config's diff_ids, unpacked, the probe run in the sandbox),
 * then remembered, so exporting again onto the same runtime skips the work.
 */
async function runtimePython(config: Config, runtime: OrdinaryImage, image: Image, baseDir: string, work: string, rootfs: () => Promise<string>): Promise<RuntimePython> {
  const probes = path.join(config.pypakrDir, "runtimes", "pythons");
  checkPlatform(runtime, image);
  const known = await knownRuntimePython(probes, runtime.manifestDigest);
  if (known) return known;
  await checkDiffIds(runtime);
  const python = await askRuntimePython(runtime, await rootfs(), await vendoredPackaging(baseDir, work));
  await rememberRuntimePython(probes, runtime.manifestDigest, python);
  return python;
}

/** A layer the export adds, and what the config's history says of it. */
type AddedLayer = WrittenLayer & { createdBy: string };

/**
 * The export's own layers, each from the cache when an earlier export made
 * it: the skeleton, then one per pypakr layer, each with its modules'
 * bytecode, compiled by the runtime's Python (one run for all that are made).
 */
async function addedLayers(store: Store, cache: LayerCache, image: Image, base: Base, python: RuntimePython, rootfs: () => Promise<string>, venv: string, compression: Compression, work: { own: string; sandboxed: string }): Promise<AddedLayer[]> {
  // `format` names how pypakr makes these layers: raise it whenever that changes, or old cached layers would still serve.
  const how = { venv, compression, format: 4, python: { implementation: python.implementation, version: python.version, soabi: python.soabi } };
  const { files, placeholder } = image.config.pypakr.relocation;
  const relocation = { files: new Map(files.map((file) => [file.path, file.kind])), placeholder };
  const planned = [
    { key: { ...how, kind: "skeleton", base: base.manifestDigest, executable: python.executable }, entries: () => skeletonEntries(base, python, venv), createdBy: `pypakr export: a venv at ${venv} for ${python.executable}` },
    ...image.manifest.layers.map((layer, index) => {
      const what = `layer ${index + 1} (${layer.digest.slice(0, 19)}) of ${image.source}`;
      return { key: { ...how, kind: "layer", layer: layer.digest, placeholder, relocated: files }, entries: () => venvLayerEntries(store, { digest: layer.digest, what }, relocation, venv), createdBy: `pypakr export: ${what}, at ${venv}, with its bytecode` };
    }),
  ];
  const kept = await Promise.all(planned.map((layer) => cache.get(layer.key)));
  const missing = planned.flatMap((layer, index) => (kept[index] ? [] : [index]));
  if (missing.length > 0) {
    const entries = [];
    for (const index of missing) entries.push(await (planned[index] as (typeof planned)[number]).entries());
    const bytecode = await compileLayers(await rootfs(), python, venv, entries, path.join(work.sandboxed, "bytecode"));
    for (const [position, index] of missing.entries()) {
      const made = await writeLayer([...(entries[position] ?? []), ...(bytecode[position] ?? [])], path.join(work.own, `layer-${index}`), compression);
      kept[index] = await cache.put((planned[index] as (typeof planned)[number]).key, made);
    }
  }
  return planned.map((layer, index) => ({ ...(kept[index] as WrittenLayer), createdBy: layer.createdBy }));
}

export async function exportImage(config: Config, options: ExportOptions): Promise<ExportResult> {
  if (!options.output && !options.push) throw new PypakrError("pypakr export needs somewhere to put the image", { code: "usage", hint: "Pass -o FILE (an image archive), --push HOST/REPO:TAG, or both." });
  const venv = checkVenvPath(options.venv);
  // A malformed target fails now, not after the export's work.
  if (options.push) parseReference(options.push);
  const output = options.output ? path.resolve(options.output) : undefined;
  if (output) await checkOutputFile(config, output, "-o");
  const local = await ensureLocalImage(config, options.image, options);
  const store = await Store.open(config);
  const { digest, lease } = await acquireImage(store, local.image);
  // Two work dirs: one private to pypakr (the layers, the documents), and one the sandboxed runtime's Python
  // must reach, as nobody when pypakr is root (see runInRootfs): the runtime's tree and what it compiles.
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-export-"));
  const sandboxed = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-export-sandbox-"));
  try {
    await fs.chmod(sandboxed, 0o755);
    const image = await loadImage(store, digest);
    const base = await chooseBase(config, image.config.pypakr.python);
    progress(`exporting ${image.source} onto runtime ${options.runtime}`);
    const runtime = await openRuntime(config, options.runtime, image, work, options);
    const rootfs = lazyRootfs(runtime.image, sandboxed, store.limits.imageEntries);
    const python = await runtimePython(config, runtime.image, image, base.dir, sandboxed, rootfs);
    checkRuntimeMatches(image, runtime.image.source, python);
    const cache = new LayerCache(path.join(config.pypakrDir, "runtimes", "layers"));
    const added = await addedLayers(store, cache, image, base, python, rootfs, venv, options.compression, { own: work, sandboxed });
    const documents = exportedDocuments(image, runtime.image, added, { venv, ...(options.source ? { source: options.source } : {}), ...(runtime.name ? { runtimeName: runtime.name } : {}) });
    const blobs = blobList(runtime.image, added, documents);
    const result: ExportResult = {
      digest: documents.manifestDigest,
      runtimeLayers: runtime.image.manifest.layers.length,
      addedLayers: added,
      runtime: { source: runtime.image.source, digest: runtime.image.manifestDigest, python },
      runtimeBytes: runtime.image.manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
      addedBytes: added.reduce((sum, layer) => sum + layer.size, 0),
    };
    if (output) {
      const size =
        options.format === "docker-archive"
          ? await writeDockerArchive(
              output,
              {
                configBytes: documents.configBytes,
                configDigest: documents.configDigest,
                layers: [...runtime.image.manifest.layers.map((layer, index) => ({ file: runtime.image.blobFile(layer.digest), diffId: runtime.image.config.rootfs.diff_ids[index] as string })), ...added.map((layer) => ({ file: layer.file, diffId: layer.diffId }))],
                ...(options.push ? { repoTag: options.push } : {}),
              },
              work,
            )
          : await writeBlobsArchive(
              output,
              documents.manifestDigest,
              blobs.map((blob) => ("file" in blob ? { digest: blob.digest, file: blob.file } : { digest: blob.digest, bytes: blob.bytes })),
              // The ref name umoci and `oci:` layouts select by: the pushed tag, else latest.
              (options.push ? parseReference(options.push).tag : undefined) ?? "latest",
            );
      result.output = { file: output, size };
    }
    if (options.push) {
      const files = await Promise.all(blobs.map(async (blob) => ("file" in blob ? blob : { digest: blob.digest, size: blob.bytes.length, file: await writeDocument(work, blob.digest, blob.bytes) })));
      const pushed = await pushOrdinaryImage(options.push, { manifestBytes: documents.manifestBytes, manifestMediaType: "application/vnd.oci.image.manifest.v1+json", blobs: files.filter((blob) => blob.digest !== documents.manifestDigest) }, options);
      const target = parseReference(options.push);
      result.pushed = { reference: pushed.reference, digest: pushed.digest, byDigest: formatReference({ registry: target.registry, repository: target.repository, digest: pushed.digest }) };
    }
    return result;
  } finally {
    await removeTree(work);
    await removeTree(sandboxed);
    await lease.release();
  }
}

type Blob = { digest: string; size: number; file: string } | { digest: string; bytes: Buffer };

function blobList(runtime: OrdinaryImage, added: WrittenLayer[], documents: ExportedDocuments): Blob[] {
  return [
    { digest: documents.manifestDigest, bytes: documents.manifestBytes },
    { digest: documents.configDigest, bytes: documents.configBytes },
    ...runtime.manifest.layers.map((layer) => ({ digest: layer.digest, size: layer.size, file: runtime.blobFile(layer.digest) })),
    ...added.map((layer) => ({ digest: layer.digest, size: layer.size, file: layer.file })),
  ];
}

async function writeDocument(work: string, digest: string, bytes: Buffer): Promise<string> {
  const file = path.join(work, digest.replace(":", "-"));
  await fs.writeFile(file, bytes, { flag: "wx" });
  return file;
}
