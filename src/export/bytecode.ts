/**
 * Each exported layer's own bytecode, in the layer itself. pypakr layers
 * carry no `__pycache__`, and in the exported image the app's user cannot
 * write one, so without it every start would compile each module it
 * imports (about 420 ms for a Flask app). A pyc depends only on its
 * module's source, its path and the Python version, so a layer's modules
 * are compiled alone: the layer stays a function of the pypakr layer (and
 * the runtime's Python version), shared between exported apps as before.
 *
 * The runtime's own Python compiles them in the sandbox (its tree as `/`,
 * the layer's modules as written into the layer, at /tmp/src, recorded as
 * living in the venv), into unchecked-hash pycs (valid whatever the files'
 * times, which layers do not keep) with a fixed hash seed, so the layer is
 * the same bytes each time. What the sandbox leaves is a stranger's output:
 * only regular `NAME.TAG.pyc` files next to a module written there are
 * taken.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { LayerEntry } from "../image/index.js";
import { majorMinor } from "../python/index.js";
import { ROOTFS_UID, runInRootfs } from "../sandbox/index.js";
import { PypakrError } from "../util/errors.js";
import { progress } from "../util/log.js";
import { show } from "../util/printable.js";
import { chmodTree } from "./readable.js";
import type { RuntimePython } from "./runtime-python.js";

const SOURCES_INSIDE = "/tmp/src";
const PYCACHE_INSIDE = "/tmp/pycache";
const COMPILE_TIMEOUT_MS = 10 * 60_000;
const MAX_PYC_FILES = 500_000;
const MAX_PYC_BYTES = 4 * 1024 ** 3;

/** sys.implementation.cache_tag, e.g. cpython-311. */
export function cacheTag(python: RuntimePython): string {
  return `${python.implementation}-${majorMinor(python.version).replace(".", "")}`;
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
  if ((await fs.lstat(dir).catch(() => null))?.isDirectory()) await walk("");
  return found;
}

/**
 * Writes the layer's modules (`*.py` files, as they go into the layer) into
 * `src`, by their paths below the venv, readable by anyone. Returns those
 * paths (relative to `src`).
 */
function writeModules(entries: readonly LayerEntry[], venvRelative: string, src: string): Set<string> {
  const written = new Set<string>();
  for (const entry of entries) {
    if (entry.type !== "file" || !entry.path.endsWith(".py") || !entry.path.startsWith(`${venvRelative}/`)) continue;
    const relative = entry.path.slice(venvRelative.length + 1);
    const target = path.join(src, relative);
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    if ("content" in entry) writeFileSync(target, entry.content, { mode: 0o644 });
    else copyFileSync(entry.source, target);
    written.add(relative);
  }
  return written;
}

/**
 * The layer entries for what the compile left in `out` (a pycache-prefix
 * tree mirroring the paths compiled, /tmp/src/...): each regular
 * `NAME<suffix>` file whose `NAME.py` is one of `modules` goes to that
 * directory's `__pycache__` in the venv. Anything else there (links, other
 * names, bytecode of no module written) is left out.
 */
export async function collectBytecode(out: string, modules: ReadonlySet<string>, venvRelative: string, suffix: string): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  const dirs = new Set<string>();
  const compiled = path.join(out, SOURCES_INSIDE.slice(1));
  for (const { relative, size } of await regularFiles(compiled)) {
    if (!relative.endsWith(suffix)) continue;
    const dir = path.posix.dirname(relative);
    const name = path.posix.basename(relative);
    const module = `${dir === "." ? "" : `${dir}/`}${name.slice(0, -suffix.length)}.py`;
    if (!modules.has(module)) continue;
    const cacheDir = `${venvRelative}/${dir === "." ? "" : `${dir}/`}__pycache__`;
    dirs.add(cacheDir);
    entries.push({ type: "file", path: `${cacheDir}/${name}`, executable: false, source: path.join(compiled, relative), size });
  }
  for (const dir of dirs) entries.push({ type: "dir", path: dir });
  return entries;
}

/**
 * The bytecode of the modules among `entries` (one layer's), compiled by
 * the runtime's Python in `rootfs` as living in `venv`: entries to add to
 * that layer. `work` is a fresh directory for this layer alone.
 */
export async function layerBytecode(rootfs: string, python: RuntimePython, venv: string, entries: readonly LayerEntry[], work: string): Promise<LayerEntry[]> {
  const src = path.join(work, "src");
  const out = path.join(work, "pycache");
  await fs.mkdir(work, { mode: 0o755 });
  await fs.mkdir(src, { mode: 0o755 });
  const modules = writeModules(entries, venv.slice(1), src);
  if (modules.size === 0) return [];
  // Whatever the umask took: the compile may run as nobody.
  await chmodTree(src);
  await fs.mkdir(out, { mode: 0o700 });
  // Only the command's user may write there (as root, pypakr runs it as nobody; see runInRootfs).
  if (process.getuid?.() === 0) await fs.chown(out, ROOTFS_UID, ROOTFS_UID);
  const env = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/tmp", PYTHONHASHSEED: "0", PYTHONPYCACHEPREFIX: PYCACHE_INSIDE };
  // Not -I: it would ignore the hash seed and the cache prefix. -S -s: no site code runs. -s/-p: recorded at their venv path.
  const argv = [python.executable, "-S", "-s", "-m", "compileall", "-qq", "--invalidation-mode", "unchecked-hash", "-s", SOURCES_INSIDE, "-p", venv, SOURCES_INSIDE];
  const binds = [
    { host: src, inside: SOURCES_INSIDE },
    { host: out, inside: PYCACHE_INSIDE, writable: true },
  ];
  const result = await runInRootfs(rootfs, argv, env, { timeoutMs: COMPILE_TIMEOUT_MS, maxOutputChars: 1_000_000, binds });
  if (result.code === 2 && result.signal === null) {
    // compileall older than Python 3.9 knows no -s/-p: such a runtime's modules compile at start instead.
    progress(`the runtime's Python cannot compile for another path (compileall -s/-p); the exported venv has no bytecode`);
    return [];
  }
  // Exit 1 means some module did not compile (a package may ship Python 2 examples): it simply gets no bytecode.
  if (result.signal !== null || (result.code !== 0 && result.code !== 1)) {
    const last = (result.stderr.trim().split("\n").pop() ?? "").slice(0, 300);
    throw new PypakrError(`the runtime's Python failed to compile the venv's modules (${result.signal ?? `exit ${result.code}`})${last ? `: ${show(last)}` : ""}`, { code: "runtime-unusable", hint: "Check the runtime image's Python; pypakr export needs it to run compileall." });
  }
  return collectBytecode(out, modules, venv.slice(1), `.${cacheTag(python)}.pyc`);
}
