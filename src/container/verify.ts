/**
 * `pypakr verify -c DIR`: every file of a container compared with what its
 * image and base say it should be. Expected content comes from trusted
 * hashes (the base's manifest, the layer listings made when unpacking), not
 * from the store's copies, which a hard-linked container shares.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { loadBase, type PlannedEntry, planVenv } from "../base/index.js";
import { relocatedContent } from "./materialize.js";
import { METADATA_DIR } from "../layout/index.js";
import type { Config } from "../config/index.js";
import { loadImage, Store, unpackLayer } from "../store/index.js";
import { PypakrError } from "../util/errors.js";
import { lstatOrNull } from "../util/fs.js";
import { show } from "../util/printable.js";
import { sha256File, sha256Hex, type Digest } from "../util/hash.js";
import { readContainerRecord } from "./record.js";
import { finishRelocation, movedFrom as movedFromPath } from "./relocation-journal.js";

export interface Difference {
  path: string;
  change: "modified" | "missing" | "added" | "type changed";
}

export interface ContainerCheck {
  dir: string;
  /** The path the container was made at, when it has been moved or copied since (its relocated files name that path). */
  movedFrom: string | null;
  checked: number;
  differences: Difference[];
}

async function expectedHash(entry: Extract<PlannedEntry, { type: "file" }>, prefix: string, prompt: string): Promise<string> {
  if (entry.relocate) return sha256Hex(relocatedContent(entry, entry.relocate, prefix, prompt));
  return entry.sha256 ?? (await sha256File(entry.source)).hex;
}

/** `prefix` and `prompt`: what the container's relocated files name (the path it was made for, or relocated to). */
async function differenceAt(dir: string, file: string, entry: PlannedEntry, prefix: string, prompt: string): Promise<Difference["change"] | null> {
  const full = path.join(dir, file);
  const stat = await lstatOrNull(full);
  if (!stat) return "missing";
  if (entry.type === "dir") return stat.isDirectory() ? null : "type changed";
  if (entry.type === "symlink") return !stat.isSymbolicLink() ? "type changed" : (await fs.readlink(full)) === entry.link ? null : "modified";
  if (!stat.isFile()) return "type changed";
  const [actual, expected] = await Promise.all([sha256File(full), expectedHash(entry, prefix, prompt)]);
  return actual.hex === expected ? null : "modified";
}

/** Files present in the container that neither image nor base put there (bytecode aside). */
async function addedFiles(dir: string, plan: ReadonlyMap<string, PlannedEntry>): Promise<string[]> {
  const added: string[] = [];
  const walk = async (relativeDir: string): Promise<void> => {
    for (const name of await fs.readdir(path.join(dir, relativeDir))) {
      const relative = relativeDir ? `${relativeDir}/${name}` : name;
      if (relative === METADATA_DIR || name === "__pycache__") continue;
      const planned = plan.get(relative);
      if (!planned) {
        added.push(relative);
        continue;
      }
      if (planned.type === "dir" && (await fs.lstat(path.join(dir, relative))).isDirectory()) await walk(relative);
    }
  };
  await walk("");
  return added;
}

export async function verifyContainer(config: Config, container: string): Promise<ContainerCheck> {
  const dir = path.resolve(container);
  // Half relocated, its files name two paths: finished first (as run does), it is checked as one.
  await finishRelocation(dir);
  const record = await readContainerRecord(dir);
  const store = await Store.open(config);
  const image = await loadImage(store, record.image.digest as Digest).catch(() => {
    throw new PypakrError(`the store no longer holds image ${show(record.image.digest)}, which made ${dir}`, {
      code: "image-not-found",
      hint: `Load it again (pypakr load -i IMAGE.tar) to verify this container; gc keeps the images of registered containers.`,
    });
  });
  const base = await loadBase(config, record.base.kind);
  if (!base) throw new PypakrError(`this machine no longer has the base ${show(record.base.kind)} that made ${dir}`, { code: "base-not-found", hint: "Recreate the container with pypakr create-container --force." });
  const layers = [];
  for (const layer of image.manifest.layers) layers.push(await unpackLayer(store, layer.digest, `layer ${layer.digest.slice(0, 19)}`));
  const { relocation } = image.config.pypakr;
  const plan = planVenv(base, layers, { files: new Map(relocation.files.map((file) => [file.path, file.kind])), placeholder: relocation.placeholder }, { maxEntries: config.limits.imageEntries });
  // A moved container's files still name where it was made: compared with that, only its path is reported.
  const movedFrom = await movedFromPath(dir, record);
  const prefix = record.dir ?? dir;
  const prompt = record.prompt ?? path.basename(prefix);
  const differences: Difference[] = [];
  for (const [file, entry] of plan) {
    const change = await differenceAt(dir, file, entry, prefix, prompt);
    if (change) differences.push({ path: file, change });
  }
  for (const file of await addedFiles(dir, plan)) differences.push({ path: file, change: "added" });
  differences.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { dir, movedFrom, checked: plan.size, differences };
}
