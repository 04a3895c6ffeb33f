/**
 * The exported venv's bytecode, as one last layer. pypakr layers carry no
 * `__pycache__`, and in the exported image the app's user cannot write
 * there, so without this every start would compile each module it imports
 * (hundreds of milliseconds for a Flask app). The runtime's own Python
 * compiles the assembled tree in the sandbox (the tree as `/`, the output
 * in a directory of its own), with unchecked-hash pycs (valid whatever the
 * files' times) and a fixed hash seed, so the layer is the same bytes each
 * time. What the sandbox leaves is a stranger's output: only regular
 * `NAME.TAG.pyc` files next to a real `NAME.py` of the venv are taken.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { type Compression, extractTar, type LayerEntry, writeLayer, type WrittenLayer } from "../image/index.js";
import { majorMinor } from "../python/index.js";
import { ROOTFS_UID, runInRootfs } from "../sandbox/index.js";
import { PypakrError } from "../util/errors.js";
import { show } from "../util/printable.js";
import type { RuntimePython } from "./runtime-python.js";

const PYCACHE_INSIDE = "/tmp/pycache";
const COMPILE_TIMEOUT_MS = 10 * 60_000;
const MAX_PYC_FILES = 500_000;
const MAX_PYC_BYTES = 4 * 1024 ** 3;

/** sys.implementation.cache_tag, e.g. cpython-311. */
function cacheTag(python: RuntimePython): string {
  return `${python.implementation}-${majorMinor(python.version).replace(".", "")}`;
}

/** Adds `layers` (the export's own, in order) to the runtime's unpacked tree, as an engine would stack them. */
export async function stackLayers(rootfs: string, layers: readonly WrittenLayer[], maxEntries: number): Promise<void> {
  for (const [index, layer] of layers.entries()) await extractTar(layer.file, rootfs, { what: `exported layer ${index + 1}`, whiteouts: "apply", rootfs: true, maxEntries });
}

/** Every regular file below `dir`, as paths relative to it (never following a link). */
async function regularFiles(dir: string): Promise<{ relative: string; size: number }[]> {
  const found: { relative: string; size: number }[] = [];
  let bytes = 0;
  const walk = async (relative: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(dir, relative), { withFileTypes: true })) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) {
        const { size } = await fs.lstat(path.join(dir, child));
        bytes += size;
        found.push({ relative: child, size });
        if (found.length > MAX_PYC_FILES || bytes > MAX_PYC_BYTES) throw new PypakrError("the runtime's Python wrote far more bytecode than the venv has modules", { code: "runtime-unusable", hint: "The runtime image misbehaves; use another." });
      }
    }
  };
  await walk("");
  return found;
}

/** Whether a path of the tree is a directory reached through directories alone (no link on the way), remembered per path. */
function realDirectories(root: string): (relative: string) => Promise<boolean> {
  const known = new Map<string, Promise<boolean>>();
  const check = (relative: string): Promise<boolean> => {
    let answer = known.get(relative);
    if (!answer) {
      const parent = path.posix.dirname(relative);
      answer = (parent === "." ? Promise.resolve(true) : check(parent)).then(async (parentReal) => parentReal && ((await fs.lstat(path.join(root, relative)).catch(() => null))?.isDirectory() ?? false));
      known.set(relative, answer);
    }
    return answer;
  };
  return check;
}

/**
 * The layer entries for what the compile left in `out` (a pycache-prefix
 * tree mirroring the image's paths): each regular `NAME<suffix>` file below
 * the venv, in a directory reached without links, whose `NAME.py` is a
 * regular file of the tree, goes to that directory's `__pycache__`.
 * Anything else there (links, other names, bytecode of no module) is
 * left out.
 */
export async function collectBytecode(rootfs: string, out: string, venv: string, suffix: string): Promise<LayerEntry[]> {
  const prefix = `${venv.slice(1)}/`;
  const entries: LayerEntry[] = [];
  const dirs = new Set<string>();
  const realDir = realDirectories(rootfs);
  for (const { relative, size } of await regularFiles(out)) {
    if (!relative.startsWith(prefix) || !relative.endsWith(suffix)) continue;
    const dir = path.posix.dirname(relative);
    // compileall also walks linked directories (lib64 -> lib): their bytecode is the target's, already here.
    if (!(await realDir(dir))) continue;
    const name = path.posix.basename(relative);
    const source = await fs.lstat(path.join(rootfs, dir, `${name.slice(0, -suffix.length)}.py`)).catch(() => null);
    if (!source?.isFile()) continue;
    dirs.add(`${dir}/__pycache__`);
    entries.push({ type: "file", path: `${dir}/__pycache__/${name}`, executable: false, source: path.join(out, relative), size });
  }
  for (const dir of dirs) entries.push({ type: "dir", path: dir });
  return entries;
}

/**
 * Compiles the venv at `venv` inside `rootfs` (the runtime with the
 * export's layers stacked on it) and writes its bytecode as a layer to
 * `file`; null when there is nothing to compile.
 */
export async function bytecodeLayer(rootfs: string, python: RuntimePython, venv: string, work: string, file: string, compression: Compression): Promise<WrittenLayer | null> {
  const out = path.join(work, "pycache");
  await fs.mkdir(out, { mode: 0o700 });
  // Only the command's user may write there (as root, pypakr runs it as nobody; see runInRootfs).
  if (process.getuid?.() === 0) await fs.chown(out, ROOTFS_UID, ROOTFS_UID);
  const env = { PATH: `${venv}/bin:/usr/local/bin:/usr/bin:/bin`, HOME: "/tmp", PYTHONHASHSEED: "0", PYTHONPYCACHEPREFIX: PYCACHE_INSIDE };
  // Not -I: it would ignore the hash seed and the cache prefix. -S -s: no site code runs, none of the venv's .pth files.
  const argv = [python.executable, "-S", "-s", "-m", "compileall", "-qq", "--invalidation-mode", "unchecked-hash", venv];
  const result = await runInRootfs(rootfs, argv, env, { timeoutMs: COMPILE_TIMEOUT_MS, maxOutputChars: 1_000_000, binds: [{ host: out, inside: PYCACHE_INSIDE, writable: true }] });
  // Exit 1 means some file did not compile (a package may ship Python 2 examples): those simply get no bytecode.
  if (result.signal !== null || (result.code !== 0 && result.code !== 1)) {
    const last = (result.stderr.trim().split("\n").pop() ?? "").slice(0, 300);
    throw new PypakrError(`the runtime's Python failed to compile the venv (${result.signal ?? `exit ${result.code}`})${last ? `: ${show(last)}` : ""}`, { code: "runtime-unusable", hint: "Check the runtime image's Python; pypakr export needs it to run compileall." });
  }
  const entries = await collectBytecode(rootfs, out, venv, `.${cacheTag(python)}.pyc`);
  if (entries.length === 0) return null;
  return writeLayer(entries, file, compression);
}
