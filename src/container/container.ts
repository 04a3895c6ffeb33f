/**
 * Materializing a container: base files plus image layers, relocated to the
 * container's own path, made beside that path and renamed into place only when
 * complete, so DIR is either absent, the old one (with --force), or whole.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { type Base, chooseBase, planVenv } from "../base/index.js";
import { materializeVenv, StaleSourceError, type LinkMode } from "./materialize.js";
import { ConfinedTree } from "../util/confined-tree.js";
import { containerRecordFile, launchFile, METADATA_DIR } from "../layout/index.js";
import { type Config, ownPathProblem } from "../config/index.js";
import { checkSymlinks, type Image, type PypakrConfig, unsafePrefixReason } from "../image/index.js";
import { acquireImage, forgetAddedImage, forgetUnpackedLayer, isInUnpackedLayer, loadImage, Store, unpackLayer } from "../store/index.js";
import { describeInterpreter } from "../python/index.js";
import { isErrno, PypakrError } from "../util/errors.js";
import { shellWord } from "../util/printable.js";
import { exists, isEmptyDir, lstatOrNull, processAlive, removeTree, withTempPath } from "../util/fs.js";
import { siblingOwner, siblingTempPath } from "../util/temp-names.js";
import { progress } from "../util/log.js";
import { launchScript } from "./launch.js";
import type { ContainerRecord } from "./record.js";

export interface CreateContainerOptions {
  /** An image file, or a stored image's tag or digest. */
  image: string;
  container: string;
  force?: boolean;
  link?: LinkMode;
}

export interface CreatedContainer {
  dir: string;
  image: Image;
  base: Base;
  link: LinkMode;
}

/** A directory create-container made: it has a container record (a real .pypakr directory, not a link to one). */
async function isContainerDir(dir: string): Promise<boolean> {
  const [metadata, record] = await Promise.all([lstatOrNull(path.join(dir, METADATA_DIR)), lstatOrNull(containerRecordFile(dir))]);
  return Boolean(metadata?.isDirectory() && record?.isFile());
}

/**
 * Where a container may go: a new path, an empty directory, or (with
 * --force) an old container. --force never replaces anything else: not a
 * directory of the user's files, and never pypakr's own directories, what
 * holds them, $HOME or / (see ownPathProblem), which it once deleted.
 */
async function checkTarget(config: Config, target: string, force: boolean): Promise<void> {
  const reason = unsafePrefixReason(target);
  if (reason) throw new PypakrError(`container path ${target} ${reason}`, { code: "unsafe-path", hint: "Choose a path without double quotes, $, backquotes, backslashes or line breaks (spaces and ' are fine)." });
  const own = await ownPathProblem(config, target);
  if (own) {
    throw new PypakrError(`cannot make a container at ${target}: it ${own}, which pypakr never replaces or writes into${force ? ", even with --force" : ""}`, {
      code: "own-path",
      hint: "Choose a container path of your own, e.g. pypakr create-container -i IMAGE -c ./mycontainer",
    });
  }
  let stat;
  try {
    stat = await fs.lstat(target);
  } catch (error) {
    if (isErrno(error, "ENOENT")) return;
    if (isErrno(error, "ENOTDIR")) throw new PypakrError(`cannot make a container at ${target}: part of that path is a file`, { code: "target-unusable", hint: "Choose another container path." });
    throw error;
  }
  if (!stat.isDirectory()) throw new PypakrError(`${target} exists and is not a directory`, { code: "target-unusable", hint: "Choose another container path, or remove that file." });
  if (await isEmptyDir(target)) return;
  if (!(await isContainerDir(target))) {
    throw new PypakrError(`${target} exists, is not empty, and is not a pypakr container (it has no ${METADATA_DIR}/container.json)`, {
      code: "target-unusable",
      hint: `${force ? "--force replaces only a pypakr container or an empty directory, never other files. " : ""}Choose another path, or move the files out of ${target} yourself first.`,
    });
  }
  if (!force) throw new PypakrError(`${target} exists and is not empty (it holds a pypakr container)`, { code: "target-unusable", hint: "Choose another path, or pass --force to replace that container." });
}

/** Refuses an image whose wheels this interpreter cannot load (e.g. a manylinux tag newer than this glibc). */
function checkWheelTags(image: Image, base: Base): void {
  const supported = new Set(base.supportedTags);
  for (const distribution of image.config.pypakr.distributions) {
    if (distribution.wheelTags.length === 0 || distribution.wheelTags.some((tag) => supported.has(tag))) continue;
    throw new PypakrError(
      `${distribution.name} ${distribution.version} in ${image.source} was built for ${distribution.wheelTags.join(", ")}, which ${describeInterpreter(base.python)} on this machine cannot load`,
      { code: "python-mismatch", hint: "Rebuild the image on a machine like this one (e.g. with an older glibc), or run it on a machine that matches." },
    );
  }
}

/** A layer to place, and how to name it in messages. */
export interface LayerRef {
  digest: string;
  what: string;
  /** One distribution's layer (the image's config lists it): its files may be linked (see LinkMode). */
  distribution?: boolean;
}

/**
 * Writes a venv's files into `staging` (made here, empty) for a venv that
 * will live at `target`: the base's files, then each layer's (unpacked into
 * the store's cache once), whiteouts applied, relocated to `target`, through
 * the one door that cannot write through a symlink. The same code serves
 * every path that makes a container, and the tests of hostile layers.
 */
export async function writeVenvTree(
  store: Store,
  base: Base,
  image: { what: string; layers: readonly LayerRef[]; relocation: PypakrConfig["relocation"] },
  staging: string,
  target: string,
  link: LinkMode,
): Promise<{ tree: ConfinedTree; link: LinkMode }> {
  const { layers: layerRefs, relocation } = image;
  await fs.mkdir(staging);
  const layers = [];
  for (const layer of layerRefs) layers.push({ ...(await unpackLayer(store, layer.digest, layer.what)), distribution: layer.distribution === true });
  const plan = planVenv(base, layers, { files: new Map(relocation.files.map((file) => [file.path, file.kind])), placeholder: relocation.placeholder }, { maxEntries: store.limits.imageEntries });
  const tree = new ConfinedTree(staging);
  const { link: used, layerLinks } = materializeVenv(plan, tree, target, { link, prompt: path.basename(target) });
  // Each layer's links were checked alone; together they must still stay inside.
  await checkSymlinks(staging, layerLinks, image.what);
  return { tree, link: used };
}

async function materialize(store: Store, image: Image, base: Base, staging: string, target: string, link: LinkMode): Promise<LinkMode> {
  // The launch file compares the shell's physical $PWD with this; the parent exists by now.
  const realTarget = path.join(await fs.realpath(path.dirname(target)), path.basename(target));
  // Only a distribution's layer may be linked; the app-files layer, and any layer the config does not name, is copied.
  const distributionLayers = new Set(image.config.pypakr.distributions.map((distribution) => distribution.layer));
  const layerRefs = image.manifest.layers.map((layer, index) => ({
    digest: layer.digest,
    what: `layer ${index + 1} (${layer.digest.slice(0, 19)}) of ${image.source}`,
    distribution: distributionLayers.has(layer.digest),
  }));
  const { tree, link: used } = await writeVenvTree(store, base, { what: `image ${image.source}`, layers: layerRefs, relocation: image.config.pypakr.relocation }, staging, target, link);
  const record: ContainerRecord = {
    formatVersion: 1,
    image: { digest: image.manifestDigest, source: image.source, ...(image.tag ? { tag: image.tag } : {}) },
    base: { kind: base.kind, manifestDigest: base.manifestDigest, dir: base.dir },
    python: image.config.pypakr.python,
    entrypoint: image.config.pypakr.entrypoint,
    environment: image.config.pypakr.environment,
    dir: target,
    prompt: path.basename(target),
    link: used,
    created: new Date().toISOString(),
  };
  // pypakr's own files go through the same door as the image's (no layer may hold a .pypakr, at any depth).
  tree.mkdir(METADATA_DIR, 0o755);
  // Not fsynced: nothing else of the container is (thousands of links and files, as with pip, uv and
  // tar), so syncing the record alone promised nothing after a power loss, and it cost up to 120 ms on
  // ext4 without a journal, which then syncs the new directories too. `pypakr verify` finds a damaged one.
  tree.writeFile(path.relative(staging, containerRecordFile(staging)), JSON.stringify(record, null, 2) + "\n", 0o644);
  const launch = launchScript(target, record.environment, record.entrypoint, realTarget);
  if (launch !== null) tree.writeFile(path.relative(staging, launchFile(staging)), launch, 0o644);
  return used;
}

/**
 * A create-container --force killed between commit's two renames left the
 * old container at `.DIR.old-PID-*` beside its finished staging dir, and DIR
 * absent: the old one goes back, as if the command had never run. (Any other
 * leftovers of dead processes go when the staging dir is made; see
 * withTempPath.)
 */
async function restoreInterruptedReplace(target: string): Promise<void> {
  if (await exists(target)) return;
  const owner = siblingOwner(target);
  const names = await fs.readdir(path.dirname(target)).catch(() => [] as string[]);
  const left = names.flatMap((name) => {
    const found = owner(name);
    return found && !processAlive(found.pid) ? [{ name, ...found }] : [];
  });
  for (const old of left.filter((entry) => entry.purpose === "old")) {
    if (!left.some((entry) => entry.purpose === "create" && entry.pid === old.pid)) continue;
    await fs.rename(path.join(path.dirname(target), old.name), target);
    progress(`restored ${target}, which an interrupted pypakr had moved aside`);
    return;
  }
}

/** Moves the finished tree onto `target`, replacing an old one only after the new one is whole. */
async function commit(staging: string, target: string): Promise<void> {
  if (!(await exists(target))) return fs.rename(staging, target);
  const old = siblingTempPath(target, "old");
  await fs.rename(target, old);
  try {
    await fs.rename(staging, target);
  } catch (error) {
    await fs.rename(old, target);
    throw error;
  }
  await removeTree(old);
}

export async function createContainer(config: Config, options: CreateContainerOptions): Promise<CreatedContainer> {
  const target = path.resolve(options.container);
  await restoreInterruptedReplace(target);
  await checkTarget(config, target, options.force ?? false);
  const store = await Store.open(config);
  const { digest, lease, added } = await acquireImage(store, options.image, target);
  let leased = true;
  try {
    const image = await loadImage(store, digest);
    const base = await chooseBase(config, image.config.pypakr.python);
    checkWheelTags(image, base);
    const createdParent = await fs.mkdir(path.dirname(target), { recursive: true });
    let link: LinkMode = options.link ?? "auto";
    progress(`creating container ${target} from ${image.source}`);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await withTempPath(target, "create", async (staging) => {
            link = await materialize(store, image, base, staging, target, link);
            await commit(staging, target);
          });
          break;
        } catch (error) {
          if (!(error instanceof StaleSourceError)) throw error;
          const layer = isInUnpackedLayer(store, error.source);
          if (!layer) {
            throw new PypakrError(`the base file ${error.source} has changed since pypakr init made it (probably edited in place through a hard-linked container)`, {
              code: "base-damaged",
              hint: `Remake the base with pypakr init --force${base.python.executable ? ` --python ${shellWord(base.python.executable)}` : ""}; use --link copy for containers whose files you edit.`,
            });
          }
          if (attempt > 1) throw new PypakrError(`the unpacked layer ${layer} keeps changing while pypakr uses it`, { code: "concurrent-change", hint: "Stop whatever is writing into the store and try again." });
          // An unpacked layer changed through a hard-linked container: unpack it afresh from its verified blob.
          progress(`the store's unpacked copy of layer ${layer.slice(0, 19)} was changed through a container; unpacking it again`);
          await forgetUnpackedLayer(store, layer);
        }
      }
    } catch (error) {
      if (createdParent) await removeTree(createdParent);
      throw error;
    }
    // The container now keeps the image from gc; the lease is no longer needed. One index update does both.
    await store.updateIndex((index) => {
      index.containers[target] = digest;
      delete index.leases[lease.id];
    });
    leased = false;
    return { dir: target, image, base, link };
  } catch (error) {
    // An image file this command loaded only to fail with leaves the store as it was.
    if (added) {
      await forgetAddedImage(store, digest, added, lease.id);
      leased = false;
    }
    throw error;
  } finally {
    if (leased) await lease.release();
  }
}
