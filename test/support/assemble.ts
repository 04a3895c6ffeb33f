/**
 * Runs image layers through exactly what production runs for an image, so
 * the tests of hostile layers test the code that meets them:
 *
 *   load-check   checkLayerArchive on each layer blob (load, pull and
 *                create-container -i FILE run it before the store keeps a layer)
 *   unpack       unpackLayer: each layer alone into the store's cache
 *   plan         planVenv over a base and the unpacked layers
 *   materialize  writeVenvTree (unpack from the cache, planVenv,
 *                materializeVenv through a ConfinedTree), then the container
 *                record, as create-container writes them
 *   symlinks     the final checkSymlinks over all layers' links, inside writeVenvTree
 *
 * The first three are run before writeVenvTree only to tell which stage
 * refused: unpacking is cached and planning is pure, so writeVenvTree then
 * repeats them as it would in production. The base is a fake record made
 * in the workspace from a list of manifest entries, the way pypakr init
 * records a real one; by default a tiny venv whose bin/python is an absolute
 * link to an interpreter outside the container, like a real venv's.
 *
 * Beside the result, the harness reports what a hostile layer must never
 * achieve: anything changed outside the container, and any symlink in it
 * leading outside (other than where the base's own absolute links lead,
 * which production trusts).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { planVenv } from "../../src/base/assemble.js";
import type { LinkMode } from "../../src/container/materialize.js";
import { manifestDigest, PROMPT_PLACEHOLDER, type Base } from "../../src/base/base.js";
import type { ManifestEntry } from "../../src/base/manifest.js";
import { METADATA_DIR } from "../../src/layout/index.js";
import { writeVenvTree, type LayerRef } from "../../src/container/container.js";
import { checkLayerArchive, extractTar } from "../../src/image/extract/index.js";
import type { RelocationKind } from "../../src/image/format.js";
import { PLACEHOLDER } from "../../src/image/relocation.js";
import { unpackLayer, type UnpackedLayer } from "../../src/store/layers.js";
import { Store } from "../../src/store/store.js";
import { PypakrError } from "../../src/util/errors.js";
import { normalizeEntryName } from "../../src/util/tar.js";

export const SENTINEL_TEXT = "do not touch\n";
export const VICTIM_TEXT = "outside the container\n";

/**
 * One case's directory. The container (target) and the sentinel are
 * siblings, as in containerd's TestBreakouts; `outside/victim` is what
 * hostile links aim at; `interpreter/` is where a venv's bin/python leads.
 */
export interface AssemblyWorkspace {
  dir: string;
  sentinel: string;
  outside: string;
  victim: string;
  interpreterDir: string;
  interpreter: string;
  /** The container's path: what relocation writes into files, and where the tree is committed on success. */
  target: string;
  /** Where writeVenvTree writes, beside the target, as create-container's staging dir is. */
  staging: string;
  baseDir: string;
  store: Store;
}

let workspaces = 0;

export async function assemblyWorkspace(parent: string): Promise<AssemblyWorkspace> {
  workspaces += 1;
  const dir = path.join(parent, `case-${workspaces}`);
  const store = new Store(path.join(dir, "store"), path.join(dir, "tmp"));
  const ws: AssemblyWorkspace = {
    dir,
    sentinel: path.join(dir, "sentinel"),
    outside: path.join(dir, "outside"),
    victim: path.join(dir, "outside", "victim"),
    interpreterDir: path.join(dir, "interpreter"),
    interpreter: path.join(dir, "interpreter", "python3.11"),
    target: path.join(dir, "container"),
    staging: path.join(dir, ".container.create"),
    baseDir: path.join(dir, "base"),
    store,
  };
  for (const made of [ws.outside, ws.interpreterDir, ws.baseDir, store.blobsDir, store.tmpDir, store.layersDir, store.pypakrTmpDir]) await fs.mkdir(made, { recursive: true });
  await fs.writeFile(ws.sentinel, SENTINEL_TEXT);
  await fs.writeFile(ws.victim, VICTIM_TEXT);
  await fs.writeFile(ws.interpreter, "#!/bin/sh\n", { mode: 0o755 });
  return ws;
}

// ---------------------------------------------------------------------------
// Layers

export type LayerEntryType = "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";

export interface LayerEntry {
  name: string;
  type?: LayerEntryType;
  linkname?: string;
  mode?: number;
  body?: string | Buffer;
}

/** A tar of `entries`, with the names exactly as given (tar-stream writes long ones as PAX records). */
export async function layerTar(entries: LayerEntry[], options: { gzip?: boolean } = {}): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const { body, type = "file", mode, ...rest } of entries) {
    const bytes = typeof body === "string" ? Buffer.from(body) : (body ?? Buffer.alloc(0));
    const devices = type === "character-device" || type === "block-device" ? { devmajor: 1, devminor: 3 } : {};
    pack.entry({ type, mode: mode ?? (type === "directory" ? 0o755 : 0o644), mtime: new Date(0), ...devices, ...rest }, bytes);
  }
  pack.finalize();
  await collected;
  const raw = Buffer.concat(chunks);
  return options.gzip ? gzipSync(raw) : raw;
}

// ---------------------------------------------------------------------------
// Bases

/** A base manifest entry as a test writes it: mode and content may be left out. */
export interface BaseEntrySpec {
  path: string;
  type: ManifestEntry["type"];
  mode?: number;
  link?: string;
  relocate?: RelocationKind;
}

export interface BaseSpec {
  entries: BaseEntrySpec[];
  /** File contents by entry path; a file without one holds a line naming it (and the base's path when relocated). */
  files?: Record<string, string | Buffer>;
}

export const EMPTY_BASE: BaseSpec = { entries: [] };

/**
 * A tiny venv as pypakr init records one: bin/python is an absolute link to
 * the interpreter outside the container, activate names the base's path and
 * prompt. `extra` entries replace the venv's at the same path (and what was
 * below it) and come after them.
 */
export function venvBase(ws: AssemblyWorkspace, extra: BaseEntrySpec[] = [], files: Record<string, string | Buffer> = {}): BaseSpec {
  const venv: BaseEntrySpec[] = [
    { path: "bin", type: "dir" },
    { path: "bin/activate", type: "file", relocate: "text" },
    { path: "bin/python", type: "symlink", link: ws.interpreter },
    { path: "bin/python3", type: "symlink", link: "python" },
    { path: "lib", type: "dir" },
    { path: "lib/python3.11", type: "dir" },
    { path: "lib/python3.11/site-packages", type: "dir" },
    { path: "pyvenv.cfg", type: "file" },
  ];
  const replaced = (file: string) => extra.some((entry) => file === entry.path || file.startsWith(`${entry.path}/`));
  return {
    entries: [...venv.filter((entry) => !replaced(entry.path)), ...extra],
    files: {
      "bin/activate": `VIRTUAL_ENV="${ws.baseDir}"\nPS1="(${PROMPT_PLACEHOLDER}) $PS1"\n`,
      "pyvenv.cfg": `home = ${ws.interpreterDir}\n`,
      ...files,
    },
  };
}

/** Where the base's absolute symlinks lead: production trusts them (they are the base's links to its interpreter). */
function trustedDestinations(spec: BaseSpec): string[] {
  return spec.entries.flatMap((entry) => (entry.type === "symlink" && entry.link && path.isAbsolute(entry.link) ? [path.normalize(entry.link)] : []));
}

/**
 * The base's record (as pypakr init would write it) and its files on disk.
 * An entry that could not exist in a real base directory (a bad name, or
 * below one of the base's symlinks or files) is only recorded: writing it
 * would write through the link. Its recorded source path then reads
 * whatever is there, as it would for a planted record.
 */
async function makeBase(ws: AssemblyWorkspace, spec: BaseSpec): Promise<Base> {
  const links = new Set(spec.entries.filter((entry) => entry.type === "symlink").map((entry) => entry.path));
  const files = new Set(spec.entries.filter((entry) => entry.type === "file").map((entry) => entry.path));
  const entries: ManifestEntry[] = [];
  for (const entry of spec.entries) {
    const mode = entry.mode ?? (entry.type === "file" ? 0o644 : entry.type === "dir" ? 0o755 : 0o777);
    const recorded: ManifestEntry = { path: entry.path, type: entry.type, mode, ...(entry.link !== undefined ? { link: entry.link } : {}), ...(entry.relocate ? { relocate: entry.relocate } : {}) };
    const name = normalizeEntryName(entry.path);
    const parts = entry.path.split("/");
    const below = (kinds: Set<string>) => parts.some((_, index) => index > 0 && kinds.has(parts.slice(0, index).join("/")));
    const onDisk = "path" in name && name.path === entry.path && entry.path !== "" && !below(links) && !below(files);
    const full = path.join(ws.baseDir, entry.path);
    if (onDisk && entry.type === "dir") await fs.mkdir(full, { recursive: true });
    if (onDisk && entry.type === "symlink" && entry.link) {
      await fs.mkdir(path.dirname(full), { recursive: true });
      await fs.symlink(entry.link, full);
    }
    if (entry.type === "file") {
      const content = spec.files?.[entry.path] ?? (entry.relocate === "text" ? `base file ${entry.path} at ${ws.baseDir}\n` : `base file ${entry.path}\n`);
      const bytes = Buffer.from(content);
      recorded.sha256 = createHash("sha256").update(bytes).digest("hex");
      recorded.size = bytes.length;
      if (onDisk) {
        await fs.mkdir(path.dirname(full), { recursive: true });
        await fs.writeFile(full, bytes, { mode });
        if (!entry.relocate) recorded.mtimeMs = (await fs.stat(full)).mtimeMs;
      }
    }
    entries.push(recorded);
  }
  return {
    formatVersion: 5,
    kind: "cpython-3.11-linux-x86_64",
    python: {
      implementation: "cpython",
      version: "3.11.9",
      abiFlags: "",
      soabi: "cpython-311-x86_64-linux-gnu",
      os: "linux",
      machine: "x86_64",
      libc: "glibc",
      libcVersion: "2.36",
      executable: ws.interpreter,
    },
    path: ws.baseDir,
    created: new Date(0).toISOString(),
    supportedTags: ["py3-none-any"],
    manifestDigest: manifestDigest(entries),
    entries,
    dir: ws.baseDir,
  };
}

// ---------------------------------------------------------------------------
// What happened

/** Everything under `dir` that `skip` keeps, without following links: type, mode, link count, and content or link text. */
export type Snapshot = Record<string, string>;

export async function snapshot(dir: string, skip: (relative: string) => boolean = () => false): Promise<Snapshot> {
  const out: Snapshot = {};
  const walk = async (current: string, prefix: string): Promise<void> => {
    for (const name of (await fs.readdir(current)).sort()) {
      const relative = prefix ? `${prefix}/${name}` : name;
      if (skip(relative)) continue;
      const full = path.join(current, name);
      const stat = await fs.lstat(full);
      const head = `${stat.mode.toString(8)} n${stat.nlink}`;
      if (stat.isDirectory()) {
        out[relative] = `${head} dir`;
        await walk(full, relative);
      } else if (stat.isSymbolicLink()) out[relative] = `${head} -> ${await fs.readlink(full)}`;
      else out[relative] = `${head} ${createHash("sha256").update(await fs.readFile(full)).digest("hex")}`;
    }
  };
  await walk(dir, "");
  return out;
}

/** Paths whose snapshot differs between the two (added, removed or changed). */
function changes(before: Snapshot, after: Snapshot): string[] {
  const paths = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...paths].filter((file) => before[file] !== after[file]).sort();
}

/** What lies outside the container: all of the workspace but the target, the staging dir and the store's own work (unpacked layers, tmp). */
function outsideSnapshot(ws: AssemblyWorkspace): Promise<Snapshot> {
  const own = new Set([path.basename(ws.target), path.basename(ws.staging), "store/layers", "store/tmp", "tmp"]);
  return snapshot(ws.dir, (relative) => own.has(relative));
}

/**
 * Where the kernel would take a path: every symlink on the way followed
 * (then ".." applied to where it led), as for an open or a create. Null
 * when it leads nowhere: through a missing directory, a file, or too many
 * links. (Resolving the text alone would miss `link/../x` where link is a
 * symlink to a directory elsewhere.)
 */
export async function resolveLikeKernel(file: string): Promise<string | null> {
  let hops = 0;
  const walk = async (start: string, parts: string[]): Promise<string | null> => {
    let current = start;
    for (const [index, part] of parts.entries()) {
      if (part === "" || part === ".") continue;
      if (part === "..") {
        current = path.dirname(current);
        continue;
      }
      const next = path.join(current, part);
      const last = parts.slice(index + 1).every((rest) => rest === "" || rest === ".");
      const stat = await fs.lstat(next).catch(() => null);
      if (stat?.isSymbolicLink()) {
        if (++hops > 40) return null;
        const target = await fs.readlink(next);
        const resolved = await walk(path.isAbsolute(target) ? "/" : current, target.split("/"));
        if (resolved === null) return null;
        // More to walk: only a directory can be walked through.
        if (!last && !(await fs.lstat(resolved).catch(() => null))?.isDirectory()) return null;
        current = resolved;
      } else if (stat === null || !stat.isDirectory()) {
        return last ? next : null;
      } else {
        current = next;
      }
    }
    return current;
  };
  return walk("/", file.split("/"));
}

function isInside(dir: string, file: string): boolean {
  return file === dir || file.startsWith(`${dir}/`);
}

/** Every path under `dir`, sorted, not following links. */
async function walkTree(dir: string): Promise<string[]> {
  return Object.keys(await snapshot(dir));
}

/** Symlinks under `tree` that lead outside it, other than into where the base's own absolute links lead. */
async function escapingLinks(tree: string, trusted: readonly string[]): Promise<string[]> {
  const escaping: string[] = [];
  for (const relative of await walkTree(tree)) {
    const full = path.join(tree, relative);
    if (!(await fs.lstat(full)).isSymbolicLink()) continue;
    const lands = await resolveLikeKernel(full);
    if (lands === null || (isInside(tree, lands) && lands !== tree)) continue;
    if (trusted.some((dir) => isInside(dir, lands))) continue;
    escaping.push(`${relative} -> ${await fs.readlink(full)} (lands on ${lands})`);
  }
  return escaping;
}

// ---------------------------------------------------------------------------
// The run

export type Stage = "load-check" | "unpack" | "plan" | "materialize" | "symlinks";

export interface AssembleOptions {
  ws: AssemblyWorkspace;
  /** Tar or tar+gzip bytes, lowest layer first. */
  layers: Buffer[];
  /** The base's manifest entries and file contents; venvBase(ws) when not given. */
  base?: BaseSpec;
  /** The image config's relocation table (placeholder: PLACEHOLDER when not given). */
  relocation?: { placeholder?: string; files: { path: string; kind: RelocationKind }[] };
  /** The store's caps (Config.limits); production's defaults when not given. */
  limits?: { layerEntries?: number; imageEntries?: number };
  link?: LinkMode;
  /**
   * False skips the load-time check, as for blobs the store already held
   * (they are not checked again): shows that the later stages refuse on
   * their own. Production always runs it for a layer entering the store.
   */
  loadCheck?: boolean;
  /** Runs once the blobs are stored and checked, before unpacking (e.g. to damage a stored blob). */
  beforeUnpack?: (blobs: string[]) => Promise<void>;
  /** Stops after this stage (for tests of what the earlier stages cost); the whole way when not given. */
  until?: "load-check" | "unpack" | "plan";
}

export interface Assembly {
  /** The stage that refused the image, or null when the container was made. */
  refusedAt: Stage | null;
  error: PypakrError | null;
  /** The committed container (on success), or what the refused run left in staging (null if it never started writing). */
  tree: string | null;
  /** Paths outside the container that were added, removed or changed (the sentinel, the victim, the base, the blobs...). */
  changedOutside: string[];
  /** Symlinks in the tree leading outside it (beyond the base's trusted destinations). */
  escapingLinks: string[];
  /** Milliseconds each stage took, on the clock and in this process's CPU time (user and system). */
  timings: Partial<Record<Stage, number>>;
  cpu: Partial<Record<Stage, number>>;
}

/** Thrown (not reported) when a stage fails with anything but a PypakrError: a crash is never an acceptable refusal. */
class UnexpectedFailure extends Error {}

const IMAGE_SOURCE = "test-image.tar";

/**
 * Stores the layers as blobs, then runs them through load-check, unpack,
 * plan and writeVenvTree (see the file comment). One run per workspace.
 */
export async function assembleLayers(options: AssembleOptions): Promise<Assembly> {
  const { ws } = options;
  const spec = options.base ?? venvBase(ws);
  const base = await makeBase(ws, spec);
  ws.store.limits = { ...ws.store.limits, ...options.limits };
  const refs: LayerRef[] = [];
  for (const [index, bytes] of options.layers.entries()) {
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    await fs.writeFile(ws.store.blobFile(digest), bytes);
    // Each as a distribution's layer: its files are linked under --link hardlink, the case with more to check.
    refs.push({ digest, what: `layer ${index + 1} (${digest.slice(0, 19)}) of ${IMAGE_SOURCE}`, distribution: true });
  }
  const relocation = { placeholder: options.relocation?.placeholder ?? PLACEHOLDER, files: options.relocation?.files ?? [] };
  const before = await outsideSnapshot(ws);
  const timings: Partial<Record<Stage, number>> = {};
  const cpu: Partial<Record<Stage, number>> = {};

  const run = async <T>(stage: Stage, work: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    const startCpu = process.cpuUsage();
    try {
      return await work();
    } finally {
      timings[stage] = (timings[stage] ?? 0) + performance.now() - start;
      const used = process.cpuUsage(startCpu);
      cpu[stage] = (cpu[stage] ?? 0) + (used.user + used.system) / 1000;
    }
  };
  let refusedAt: Stage | null = null;
  let error: PypakrError | null = null;
  let stage: Stage = "load-check";
  try {
    if (options.loadCheck !== false) {
      // As checkLayers (src/image/reader.ts) runs it for load, pull and create-container -i FILE.
      await run(stage, async () => {
        for (const ref of refs) await checkLayerArchive(ws.store.blobFile(ref.digest), { what: ref.what, reserved: new Set([METADATA_DIR]), maxEntries: ws.store.limits.layerEntries });
      });
    }
    await options.beforeUnpack?.(refs.map((ref) => ws.store.blobFile(ref.digest)));
    if (options.until === "load-check") return done();
    stage = "unpack";
    const unpacked: UnpackedLayer[] = await run(stage, async () => {
      const layers = [];
      for (const ref of refs) layers.push(await unpackLayer(ws.store, ref.digest, ref.what));
      return layers;
    });
    if (options.until === "unpack") return done();
    stage = "plan";
    // The same arguments writeVenvTree passes; planning is pure, so this only tells a plan refusal apart.
    await run(stage, () =>
      Promise.resolve(planVenv(base, unpacked, { files: new Map(relocation.files.map((file) => [file.path, file.kind])), placeholder: relocation.placeholder }, { maxEntries: ws.store.limits.imageEntries })),
    );
    if (options.until === "plan") return done();
    stage = "materialize";
    await run(stage, async () => {
      const { tree } = await writeVenvTree(ws.store, base, { what: `image ${IMAGE_SOURCE}`, layers: refs, relocation }, ws.staging, ws.target, options.link ?? "copy");
      // pypakr's own record goes in last, through the same door, as create-container writes it.
      tree.mkdir(METADATA_DIR, 0o755);
      tree.writeFile(`${METADATA_DIR}/container.json`, "{}\n", 0o644);
    });
    await fs.rename(ws.staging, ws.target);
  } catch (caught) {
    if (!(caught instanceof PypakrError)) {
      const detail = caught instanceof Error ? (caught.stack ?? caught.message) : JSON.stringify(caught);
      throw new UnexpectedFailure(`${stage} failed with something other than a PypakrError: ${detail}`);
    }
    error = caught;
    // writeVenvTree's last step is checkSymlinks, whose refusal names the image, not a layer.
    refusedAt = stage === "materialize" && caught.message.startsWith(`image ${IMAGE_SOURCE}: the symlink `) ? "symlinks" : stage;
  }
  return done();

  async function done(): Promise<Assembly> {
    const tree = (await fs.lstat(ws.target).catch(() => null)) ? ws.target : (await fs.lstat(ws.staging).catch(() => null)) ? ws.staging : null;
    return {
      refusedAt,
      error,
      tree,
      changedOutside: changes(before, await outsideSnapshot(ws)),
      escapingLinks: tree === null ? [] : await escapingLinks(tree, trustedDestinations(spec)),
      timings,
      cpu,
    };
  }
}

/** The container's entries (sorted, not following links), without pypakr's own record. */
export async function containerPaths(tree: string): Promise<string[]> {
  return (await walkTree(tree)).filter((file) => file !== METADATA_DIR && !file.startsWith(`${METADATA_DIR}/`));
}

/**
 * Extracts a source archive as create-image does (src/builder/source.ts:
 * extractTar with whiteouts "refuse", nothing reserved) into the
 * workspace's target, reporting the same as assembleLayers.
 */
export async function extractSourceArchive(ws: AssemblyWorkspace, bytes: Buffer): Promise<Pick<Assembly, "error" | "tree" | "changedOutside" | "escapingLinks">> {
  const archive = path.join(ws.dir, "source.tar");
  await fs.writeFile(archive, bytes);
  await fs.mkdir(ws.target);
  const before = await outsideSnapshot(ws);
  let error: PypakrError | null = null;
  try {
    await extractTar(archive, ws.target, { what: `source ${archive}`, whiteouts: "refuse" });
  } catch (caught) {
    if (!(caught instanceof PypakrError)) throw new UnexpectedFailure(`extractTar failed with something other than a PypakrError: ${caught instanceof Error ? (caught.stack ?? caught.message) : JSON.stringify(caught)}`);
    error = caught;
  }
  return { error, tree: ws.target, changedOutside: changes(before, await outsideSnapshot(ws)), escapingLinks: await escapingLinks(ws.target, []) };
}
