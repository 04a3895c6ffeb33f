/**
 * What the layers an export adds on top of the runtime's hold: the venv's
 * skeleton (the base's files, its interpreter links and pyvenv.cfg pointed
 * at the runtime's Python), then each of the pypakr image's layers moved
 * under the venv's path inside the image and relocated for it (bytecode.ts
 * adds each one's compiled modules). A pypakr layer's exported form depends
 * only on that layer, the path, the runtime's Python version and the
 * compression, so two exported apps that share a distribution share its
 * layer in a registry, as their pypakr images do.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { type Base, isBytecodePath, planVenv } from "../base/index.js";
import { relocatedContent } from "../container/index.js";
import { type LayerEntry, PLACEHOLDER, relocateContent, RelocationError, type RelocationKind } from "../image/index.js";
import { type Store, unpackLayer } from "../store/index.js";
import { PypakrError } from "../util/errors.js";
import type { RuntimePython } from "./runtime-python.js";

/** Where a layer's entries go inside the image: the venv's path without its leading slash. */
function under(venv: string, relative: string): string {
  return `${venv.slice(1)}/${relative}`;
}

function tooLong(file: string, venv: string, error: RelocationError): PypakrError {
  return new PypakrError(`cannot relocate ${file} to ${venv}: ${error.message}`, { code: "path-too-long", hint: "Choose a shorter --venv path (the default /app/venv always fits)." });
}

/** pyvenv.cfg for a venv at `venv` on the runtime's interpreter (Python reads `home`; the rest is for people and tools). */
export function pyvenvConfig(venv: string, python: RuntimePython): string {
  return [
    `home = ${path.posix.dirname(python.executable)}`,
    "include-system-site-packages = false",
    `version = ${python.version}`,
    `executable = ${python.executable}`,
    `command = ${python.executable} -m venv ${venv}`,
    "",
  ].join("\n");
}

/** The directories above the venv (`app` for /app/venv), which no other layer names. */
function venvParents(venv: string): LayerEntry[] {
  const parts = venv.slice(1).split("/");
  return parts.map((_, index) => ({ type: "dir" as const, path: parts.slice(0, index + 1).join("/") }));
}

/**
 * The base's files as a venv at `venv` inside the image: its links to the
 * build machine's interpreter lead to the runtime's instead, pyvenv.cfg
 * names the runtime's, and its bytecode is compiled afresh (see
 * bytecode.ts). What relocating a container does to the base's scripts
 * (activate) is done for `venv`.
 */
export async function skeletonEntries(base: Base, python: RuntimePython, venv: string): Promise<LayerEntry[]> {
  const plan = planVenv(base, [], { files: new Map(), placeholder: PLACEHOLDER });
  const entries: LayerEntry[] = venvParents(venv);
  for (const [relative, entry] of plan) {
    // The base's bytecode is checked against its sources' times, which a layer does not keep: it is compiled afresh.
    if (isBytecodePath(relative)) continue;
    const inside = under(venv, relative);
    if (entry.type === "dir") entries.push({ type: "dir", path: inside });
    else if (entry.type === "symlink") entries.push({ type: "symlink", path: inside, link: path.posix.isAbsolute(entry.link) ? python.executable : entry.link });
    else if (relative === "pyvenv.cfg") entries.push({ type: "file", path: inside, executable: false, content: Buffer.from(pyvenvConfig(venv, python)) });
    else if (entry.relocate) {
      try {
        entries.push({ type: "file", path: inside, executable: (entry.mode & 0o111) !== 0, content: relocatedContent(entry, entry.relocate, venv, path.posix.basename(venv)) });
      } catch (error) {
        if (error instanceof RelocationError) throw tooLong(relative, venv, error);
        throw error;
      }
    } else entries.push({ type: "file", path: inside, executable: (entry.mode & 0o111) !== 0, source: entry.source, size: (await fs.stat(entry.source)).size });
  }
  return entries;
}

/**
 * One pypakr layer under `venv`, its relocated files rewritten for that
 * path: unpacked once into the store's cache (checked as every layer is),
 * then written afresh. Whiteouts keep their meaning: `venv/.../.wh.NAME`
 * hides NAME of the layers below, the skeleton's included.
 */
export async function venvLayerEntries(store: Store, layer: { digest: string; what: string }, relocation: { files: ReadonlyMap<string, RelocationKind>; placeholder: string }, venv: string): Promise<LayerEntry[]> {
  const unpacked = await unpackLayer(store, layer.digest, layer.what);
  // A path listed twice (written, then written again) goes in once, as it was last.
  const byPath = new Map<string, LayerEntry>();
  for (const listed of unpacked.entries) {
    const inside = under(venv, listed.path);
    switch (listed.type) {
      case "dir":
        byPath.set(inside, { type: "dir", path: inside });
        break;
      case "symlink":
        byPath.set(inside, { type: "symlink", path: inside, link: listed.link });
        break;
      case "whiteout":
        byPath.set(`${inside}\0whiteout`, { type: "whiteout", path: inside });
        break;
      case "opaque":
        byPath.set(`${inside}/.wh..wh..opq`, { type: "file", path: `${inside}/.wh..wh..opq`, executable: false, content: Buffer.alloc(0) });
        break;
      case "file": {
        const source = path.join(unpacked.tree, listed.path);
        const kind = relocation.files.get(listed.path);
        if (kind === undefined) {
          byPath.set(inside, { type: "file", path: inside, executable: listed.executable, source, size: listed.size });
          break;
        }
        try {
          byPath.set(inside, { type: "file", path: inside, executable: listed.executable, content: relocateContent(await fs.readFile(source), kind, relocation.placeholder, venv) });
        } catch (error) {
          if (error instanceof RelocationError) throw tooLong(listed.path, venv, error);
          throw error;
        }
        break;
      }
    }
  }
  return [...byPath.values()];
}
