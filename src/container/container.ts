/**
 * Materializing a container: base files plus image layers, relocated to the
 * container's own path, made beside that path and renamed into place only when
 * complete, so DIR is either absent, the old one (with --force), or whole.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Base } from "../base/base.js";
import { chooseBase } from "../base/base.js";
import { copyBase } from "../base/copy.js";
import { METADATA_DIR } from "../base/manifest.js";
import type { Config } from "../config/config.js";
import { tmpDir } from "../config/config.js";
import { checkSymlinks, extractTar } from "../image/extract.js";
import type { Image } from "../image/reader.js";
import { readImageArchive } from "../image/reader.js";
import { unsafePrefixReason } from "../image/relocation.js";
import { describeInterpreter } from "../python/interpreter.js";
import { isErrno, PypakrError } from "../util/errors.js";
import { exists, isEmptyDir, removeTree, siblingTempPath, withTempPath, writeFileAtomic } from "../util/fs.js";
import { progress } from "../util/log.js";
import { containerRecordFile, type ContainerRecord } from "./record.js";

export interface CreateContainerOptions {
  image: string;
  container: string;
  force?: boolean;
  tag?: string;
}

export interface CreatedContainer {
  dir: string;
  image: Image;
  base: Base;
}

const RESERVED = new Set([METADATA_DIR]);

async function checkTarget(target: string, force: boolean): Promise<void> {
  const reason = unsafePrefixReason(target);
  if (reason) throw new PypakrError(`container path ${target} ${reason}`, { hint: "Choose a path without quotes, $, backslashes or line breaks." });
  let stat;
  try {
    stat = await fs.lstat(target);
  } catch (error) {
    if (isErrno(error, "ENOENT")) return;
    throw error;
  }
  if (!stat.isDirectory()) throw new PypakrError(`${target} exists and is not a directory`, { hint: "Choose another container path, or remove that file." });
  if (!force && !(await isEmptyDir(target))) {
    throw new PypakrError(`${target} exists and is not empty`, { hint: "Choose another path, or pass --force to replace it." });
  }
}

/** Refuses an image whose wheels this interpreter cannot load (e.g. a manylinux tag newer than this glibc). */
function checkWheelTags(image: Image, base: Base): void {
  const supported = new Set(base.supportedTags);
  for (const distribution of image.config.pypakr.distributions) {
    if (distribution.wheelTags.length === 0 || distribution.wheelTags.some((tag) => supported.has(tag))) continue;
    throw new PypakrError(
      `${distribution.name} ${distribution.version} in ${image.source} was built for ${distribution.wheelTags.join(", ")}, which ${describeInterpreter(base.python)} on this machine cannot load`,
      { hint: "Rebuild the image on a machine like this one (e.g. with an older glibc), or run it on a machine that matches." },
    );
  }
}

async function materialize(image: Image, base: Base, staging: string, target: string): Promise<void> {
  await fs.mkdir(staging);
  await copyBase(base, staging, target, path.basename(target));
  const { relocation } = image.config.pypakr;
  const files = new Map(relocation.files.map((file) => [file.path, file.kind]));
  const symlinks = new Set<string>();
  for (const [index, layer] of image.manifest.layers.entries()) {
    const made = await extractTar(image.blobFile(layer.digest), staging, {
      what: `layer ${index + 1} (${layer.digest.slice(0, 19)}) of ${image.source}`,
      whiteouts: true,
      reserved: RESERVED,
      relocation: { files, from: relocation.placeholder, to: target },
    });
    made.forEach((link) => symlinks.add(link));
  }
  await checkSymlinks(staging, symlinks, `image ${image.source}`);
  const record: ContainerRecord = {
    formatVersion: 1,
    image: { digest: image.manifestDigest, source: path.resolve(image.source), ...(image.tag ? { tag: image.tag } : {}) },
    base: { id: base.kind, manifestDigest: base.manifestDigest, dir: base.dir },
    python: image.config.pypakr.python,
    entrypoint: image.config.pypakr.entrypoint,
    environment: image.config.pypakr.environment,
    created: new Date().toISOString(),
  };
  await fs.mkdir(path.join(staging, METADATA_DIR), { recursive: true });
  await writeFileAtomic(containerRecordFile(staging), JSON.stringify(record, null, 2) + "\n");
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
  await checkTarget(target, options.force ?? false);
  await fs.mkdir(tmpDir(config), { recursive: true });
  return withTempPath(path.join(tmpDir(config), "image"), "blobs", async (blobs) => {
    await fs.mkdir(blobs);
    const image = await readImageArchive(options.image, blobs, options.tag ? { tag: options.tag } : {});
    const base = await chooseBase(config, image.config.pypakr.python);
    checkWheelTags(image, base);
    const parent = path.dirname(target);
    const createdParent = await fs.mkdir(parent, { recursive: true });
    try {
      await withTempPath(target, "create", async (staging) => {
        progress(`creating container ${target} from ${image.source}`);
        await materialize(image, base, staging, target);
        await commit(staging, target);
      });
    } catch (error) {
      if (createdParent) await removeTree(createdParent);
      throw error;
    }
    return { dir: target, image, base };
  });
}
