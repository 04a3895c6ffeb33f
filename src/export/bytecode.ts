/**
 * Each exported layer's own bytecode, in the layer itself. pypakr layers
 * carry no `__pycache__`, and in the exported image the app's user cannot
 * write one, so without it every start would compile each module it
 * imports (about 420 ms for a Flask app). A pyc depends only on its
 * module's source, its path and the Python version, so a layer's modules
 * are compiled alone: the layer stays a function of the pypakr layer (and
 * the runtime's Python version), shared between exported apps as before.
 *
 * The runtime's own Python compiles them in one sandboxed run for all
 * layers (its tree as `/`; each layer's modules, as written into the layer,
 * below /tmp/src; each recorded as living at its venv path), into
 * unchecked-hash pycs (valid whatever the files' times, which layers do not
 * keep) with a fixed hash seed, so a layer is the same bytes each time. What
 * the sandbox leaves is a stranger's output: only regular `NAME.TAG.pyc`
 * files of modules written for it are taken.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { LayerEntry } from "../image/index.js";
import { majorMinor } from "../python/index.js";
import { ROOTFS_UID, runInRootfs } from "../sandbox/index.js";
import { PypakrError } from "../util/errors.js";
import { show } from "../util/printable.js";
import { chmodTree } from "./readable.js";
import type { RuntimePython } from "./runtime-python.js";

const SOURCES_INSIDE = "/tmp/src";
const PYCACHE_INSIDE = "/tmp/pycache";
const JOBS_NAME = "jobs.json";

/** Compiles each [source, recorded path, pyc] of the jobs file as compileall would, with unchecked-hash pycs; exit 1 if any module did not compile. */
const COMPILE = `
import json, py_compile, sys
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
failed = 0
with open(${JSON.stringify(`${SOURCES_INSIDE}/${JOBS_NAME}`)}) as jobs:
    for source, dfile, cfile in json.load(jobs):
        try:
            py_compile.compile(source, cfile=cfile, dfile=dfile, doraise=True, invalidation_mode=mode)
        except Exception:
            failed += 1
sys.exit(1 if failed else 0)
`;
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
 * The layer entries for what the compile left in `compiled` (a tree
 * mirroring the modules' paths below the venv): each regular `NAME<suffix>`
 * file whose `NAME.py` is one of `modules` goes to that directory's
 * `__pycache__` in the venv. Anything else there (links, other names,
 * bytecode of no module written) is left out.
 */
export async function collectBytecode(compiled: string, modules: ReadonlySet<string>, venvRelative: string, suffix: string): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  const dirs = new Set<string>();
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
 * The bytecode of the modules among each of `layers` (their entries),
 * compiled by the runtime's Python in `rootfs` as living in `venv`: for
 * each layer, the entries to add to it. `work` is a fresh directory.
 */
export async function compileLayers(rootfs: string, python: RuntimePython, venv: string, layers: readonly (readonly LayerEntry[])[], work: string): Promise<LayerEntry[][]> {
  const src = path.join(work, "src");
  const out = path.join(work, "pycache");
  await fs.mkdir(work, { mode: 0o755 });
  await fs.mkdir(src, { mode: 0o755 });
  const suffix = `.${cacheTag(python)}.pyc`;
  const modules = layers.map((entries, index) => writeModules(entries, venv.slice(1), path.join(src, String(index))));
  const jobs = modules.flatMap((names, index) =>
    [...names].map((module) => [`${SOURCES_INSIDE}/${index}/${module}`, `${venv}/${module}`, `${PYCACHE_INSIDE}/${index}/${module.slice(0, -".py".length)}${suffix}`]),
  );
  if (jobs.length === 0) return layers.map(() => []);
  writeFileSync(path.join(src, JOBS_NAME), JSON.stringify(jobs));
  // Readable whatever the umask took, but only by the compile's user: the modules are the user's code.
  await chmodTree(src);
  await fs.chmod(work, 0o700);
  await fs.mkdir(out, { mode: 0o700 });
  if (process.getuid?.() === 0) {
    // As root, pypakr runs it as nobody (see runInRootfs): nobody alone may reach the modules and write the pycs.
    await fs.chown(work, ROOTFS_UID, ROOTFS_UID);
    await fs.chown(out, ROOTFS_UID, ROOTFS_UID);
  }
  const env = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/tmp", PYTHONHASHSEED: "0" };
  // Not -I: it would ignore the hash seed (which orders sets in the code). -S -s: no site code runs.
  const argv = [python.executable, "-S", "-s", "-c", COMPILE];
  const binds = [
    { host: src, inside: SOURCES_INSIDE },
    { host: out, inside: PYCACHE_INSIDE, writable: true },
  ];
  const result = await runInRootfs(rootfs, argv, env, { timeoutMs: COMPILE_TIMEOUT_MS, maxOutputChars: 1_000_000, binds });
  // Exit 1 means some module did not compile (a package may ship Python 2 examples): it simply gets no bytecode.
  if (result.signal !== null || (result.code !== 0 && result.code !== 1)) {
    const last = (result.stderr.trim().split("\n").pop() ?? "").slice(0, 300);
    throw new PypakrError(`the runtime's Python failed to compile the venv's modules (${result.signal ?? `exit ${result.code}`})${last ? `: ${show(last)}` : ""}`, { code: "runtime-unusable", hint: "Check the runtime image's Python; pypakr export needs it to compile the venv's modules." });
  }
  return Promise.all(modules.map((names, index) => collectBytecode(path.join(out, String(index)), names, venv.slice(1), suffix)));
}
