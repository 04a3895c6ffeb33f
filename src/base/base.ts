/**
 * Bases: one pristine venv per interpreter kind, made by `pypakr init` and
 * never modified afterwards. A base's identity is the digest of its manifest.
 * Its record lives in `BASE/.pypakr/base.json`, outside the manifest.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import type { Config } from "../config/index.js";
import { relocateContent } from "../image/index.js";
import { createVenv, describeInterpreter, describeKind, findInterpreter, implementationName, type Interpreter, INTERPRETER_KIND, interpreterKind, majorMinor, pythonIdentity, type PythonIdentity, pythonSchema, supportedWheelTags } from "../python/index.js";
import { isErrno, PypakrError } from "../util/errors.js";
import { exists, removeTree, withTempPath, writeFileAtomic } from "../util/fs.js";
import { siblingTempPath } from "../util/temp-names.js";
import { readJson } from "../util/json.js";
import { SHA256_DIGEST, sha256Digest, type Digest } from "../util/hash.js";
import { progress } from "../util/log.js";
import { shellWord } from "../util/printable.js";
import { isBytecodePath, scanTree, type ManifestEntry } from "./manifest.js";
import { BASE_RECORD, baseRecordFile, METADATA_DIR } from "../layout/index.js";

/**
 * 5: manifests hash scripts with their shebang in one form (placeholderForm),
 * and the identity leaves out what depends on the base's path or time. An
 * older base is remade on first use (loadBase reads it as missing).
 */
const BASE_FORMAT_VERSION = 5;

/**
 * The prompt a base's activate scripts show, replaced by each container's own
 * directory name. (A base is made at a temporary path whose name would
 * otherwise end up in every activate script, and in every base's identity.)
 */
export const PROMPT_PLACEHOLDER = "pypakr-venv-prompt";

const baseRecordSchema = z.object({
  formatVersion: z.literal(BASE_FORMAT_VERSION),
  kind: z.string(),
  python: pythonSchema.extend({ executable: z.string() }),
  /** The path the base's files name (what relocation replaces). */
  path: z.string(),
  created: z.string(),
  supportedTags: z.array(z.string()),
  manifestDigest: z.string().regex(SHA256_DIGEST),
  // pypakr wrote this list itself, and containers read it on every use: a shape check, not a full schema pass.
  entries: z.custom<ManifestEntry[]>(isManifestEntryList, "malformed manifest entries"),
});

function isManifestEntryList(value: unknown): boolean {
  return Array.isArray(value) && value.every((entry: Partial<ManifestEntry> | null) => typeof entry?.path === "string" && (entry.type === "file" || entry.type === "dir" || entry.type === "symlink") && typeof entry.mode === "number");
}

export type Base = z.infer<typeof baseRecordSchema> & { dir: string; manifestDigest: Digest };

/**
 * Where the base for `kind` lives. Only ever a child of the bases dir: a kind
 * is built from an image's config, and one such as
 * `x86_64/../../store/layers/...` once made pypakr read a "base" that an
 * image's own layer had put in the store.
 */
export function baseDir(config: Config, kind: string): string {
  if (!INTERPRETER_KIND.test(kind)) throw new PypakrError(`"${kind.slice(0, 80)}" is not an interpreter kind`, { code: "image-invalid", hint: "The image was crafted or damaged; get it from a trusted source." });
  return path.join(config.basesDir, kind);
}

/**
 * What an entry contributes to its base's identity: what it is, never where
 * or when it was made. A file is its content as images compare it
 * (placeholder for the base's path, one shebang form: see placeholderForm)
 * and whether it is executable; its size (a relocated file's grows with the
 * base's path), mtime and full mode (the umask of whoever ran init) are left
 * out, as layers leave them out.
 */
function identityOf(entry: ManifestEntry): object {
  if (entry.type === "dir") return { path: entry.path, type: entry.type };
  if (entry.type === "symlink") return { path: entry.path, type: entry.type, link: entry.link };
  return { path: entry.path, type: entry.type, executable: (entry.mode & 0o111) !== 0, sha256: entry.sha256, ...(entry.relocate ? { relocate: entry.relocate } : {}) };
}

/**
 * A base's identity, the digest images and containers record: the same for
 * the same interpreter and pip whatever the base's path, its creation time or
 * the machine's umask, so rebuilds in any store give the same image.
 * Bytecode is left out: its headers hold the time pip installed the sources.
 */
export function manifestDigest(entries: ManifestEntry[]): Digest {
  return sha256Digest(JSON.stringify(entries.filter((entry) => !isBytecodePath(entry.path)).map(identityOf)));
}

/** The base for `kind`, or null when there is none (or only a broken one). */
export async function loadBase(config: Config, kind: string): Promise<Base | null> {
  const dir = baseDir(config, kind);
  const unreadable = { code: "base-damaged", message: () => `the base at ${dir} has an unreadable record`, hint: "Recreate it with pypakr init --force --python PATH (the interpreter it was made for)." } as const;
  let json: { formatVersion?: unknown };
  try {
    json = await readJson(baseRecordFile(dir), z.looseObject({ formatVersion: z.unknown() }), unreadable);
  } catch (error) {
    if (isErrno(error, "ENOENT")) return null;
    throw error;
  }
  // A base made by an older pypakr is rebuilt, as if it were missing.
  if (json.formatVersion !== BASE_FORMAT_VERSION) return null;
  const parsed = baseRecordSchema.safeParse(json);
  if (!parsed.success || parsed.data.kind !== kind) throw new PypakrError(unreadable.message(), { code: unreadable.code, hint: unreadable.hint });
  return { ...parsed.data, manifestDigest: parsed.data.manifestDigest as Digest, dir };
}

export async function listBases(config: Config): Promise<Base[]> {
  let names: string[];
  try {
    names = await fs.readdir(config.basesDir);
  } catch (error) {
    if (isErrno(error, "ENOENT")) return [];
    throw error;
  }
  const bases = await Promise.all(names.filter((name) => INTERPRETER_KIND.test(name)).map((name) => loadBase(config, name).catch(() => null)));
  return bases.filter((base): base is Base => base !== null);
}

async function interpreterStillThere(base: Base): Promise<boolean> {
  try {
    await fs.access(base.python.executable, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the base venv at a temporary path, moves its files' references to the
 * final path (the same relocation containers get), records its manifest, and
 * renames it into place, so a base is either absent or complete. When another
 * process finished the same base first, theirs is kept.
 */
async function buildBase(config: Config, interpreter: Interpreter, kind: string): Promise<void> {
  const dir = baseDir(config, kind);
  await fs.mkdir(config.basesDir, { recursive: true });
  await withTempPath(dir, "init", async (temp) => {
    await createVenv(interpreter.executable, temp, PROMPT_PLACEHOLDER);
    const supportedTags = await supportedWheelTags(temp);
    const entries = await scanTree(temp);
    for (const entry of entries) {
      if (!entry.relocate) continue;
      const file = path.join(temp, entry.path);
      await fs.writeFile(file, relocateContent(await fs.readFile(file), entry.relocate, temp, dir));
    }
    const record = {
      formatVersion: BASE_FORMAT_VERSION,
      kind,
      python: { ...pythonIdentity(interpreter), executable: interpreter.executable },
      path: dir,
      created: new Date().toISOString(),
      supportedTags,
      manifestDigest: manifestDigest(entries),
      entries,
    };
    await fs.mkdir(path.join(temp, METADATA_DIR));
    await writeFileAtomic(baseRecordFile(temp), JSON.stringify(record, null, 1));
    if (await exists(dir)) {
      // Only a base is ever replaced: with `base = ~` in ~/.pypakr, BASES/<kind> could be a directory of the user's.
      if (!(await exists(baseRecordFile(dir)))) {
        throw new PypakrError(`${dir} exists and is not a pypakr base (it has no ${METADATA_DIR}/${BASE_RECORD}), so pypakr init will not replace it`, {
          code: "target-unusable",
          hint: "Move that directory away, or point `base` in ~/.pypakr (or PYPAKR_HOME) at a directory of pypakr's own.",
        });
      }
      const old = siblingTempPath(dir, "old");
      await fs.rename(dir, old);
      await fs.rename(temp, dir);
      await removeTree(old);
      return;
    }
    try {
      await fs.rename(temp, dir);
    } catch (error) {
      if (!isErrno(error, "ENOTEMPTY") && !isErrno(error, "EEXIST")) throw error;
    }
  });
}

export interface InitResult {
  base: Base;
  created: boolean;
}

/** `pypakr init`: the base for this interpreter, made if missing, broken or forced. */
export async function initBase(config: Config, interpreter: Interpreter, options: { force?: boolean } = {}): Promise<InitResult> {
  const kind = interpreterKind(interpreter);
  const existing = await loadBase(config, kind).catch(() => null);
  if (existing && !options.force && (await interpreterStillThere(existing))) return { base: existing, created: false };
  progress(`creating the base venv for ${describeInterpreter(interpreter)} at ${baseDir(config, kind)}`);
  await buildBase(config, interpreter, kind);
  const base = await loadBase(config, kind);
  if (!base) throw new PypakrError(`the base at ${baseDir(config, kind)} vanished while it was being made`, { code: "concurrent-change", hint: "Run pypakr init again." });
  return { base, created: true };
}

/** The base for the given interpreter, made on first use (saying so). */
export async function ensureBase(config: Config, python: string): Promise<Base> {
  const interpreter = await findInterpreter(python);
  const existing = await loadBase(config, interpreterKind(interpreter)).catch(() => null);
  if (existing && (await interpreterStillThere(existing))) return existing;
  // A record that did not load is a base of another format (or a damaged one): say it is remade, not missing.
  const remade = !existing && (await exists(baseRecordFile(baseDir(config, interpreterKind(interpreter)))));
  progress(remade ? `the base for ${describeInterpreter(interpreter)} was made by another version of pypakr; remaking it` : `no base for ${describeInterpreter(interpreter)} yet; running pypakr init`);
  return (await initBase(config, interpreter)).base;
}

function suggestedPython(python: PythonIdentity): string {
  const [major, minor] = python.version.split(".");
  return python.implementation === "cpython" ? `python${major}.${minor}${python.abiFlags}` : `${python.implementation}${major}.${minor}`;
}

/**
 * A base of the image's kind serves it when the ABI matches too (SOABI
 * names it: a musl build has the same kind as a glibc one, but not the same
 * SOABI); the wheels' tags are checked against the base's in container.ts. A
 * patch release keeps the ABI, so a different patch is only mentioned.
 */
function servingBase(base: Base, wanted: PythonIdentity): Base {
  if (wanted.soabi && base.python.soabi && wanted.soabi !== base.python.soabi) {
    throw new PypakrError(`the image was built for the ABI ${wanted.soabi}, but this machine's ${describeInterpreter(base.python)} has ${base.python.soabi}`, {
      code: "python-mismatch",
      hint: "Rebuild the image on a machine with this kind of Python, or run it where the ABI matches.",
    });
  }
  if (wanted.version !== base.python.version) {
    progress(`the image was built with ${implementationName(wanted)} ${wanted.version}; using this machine's ${base.python.version} (same ${majorMinor(wanted.version)}${wanted.abiFlags} ABI)`);
  }
  return base;
}

/**
 * The base an image needs: one of the same kind (implementation, minor
 * version, ABI flags, platform). When there is none yet but the default
 * interpreter is that kind, it is made (as `docker run` pulls what it
 * lacks); otherwise the error names the image's Python and each of this
 * machine's once, and the command that fixes it.
 */
export async function chooseBase(config: Config, wanted: PythonIdentity): Promise<Base> {
  const kind = interpreterKind(wanted);
  const existing = await loadBase(config, kind);
  if (existing && (await interpreterStillThere(existing))) return servingBase(existing, wanted);
  const fallback = await findInterpreter(config.python).catch(() => null);
  if (fallback && interpreterKind(fallback) === kind) {
    progress(`no base for ${describeKind(wanted)} yet; running pypakr init`);
    return servingBase((await initBase(config, fallback)).base, wanted);
  }
  // One entry per interpreter, however many roles it has (a base's interpreter is often the default one too).
  const have = new Map<string, string[]>();
  const add = (python: PythonIdentity, role: string) => {
    const name = `${implementationName(python)} ${python.version}${python.abiFlags} on ${python.os}/${python.machine}`;
    have.set(name, [...(have.get(name) ?? []), role]);
  };
  for (const base of await listBases(config)) add(base.python, (await interpreterStillThere(base)) ? "a base" : "a base whose interpreter is gone");
  if (fallback) add(fallback, `the default interpreter ${fallback.executable}`);
  const machine = [...have].map(([python, roles]) => `${python} (${roles.join(", and ")})`).join("; ");
  throw new PypakrError(
    `the image needs ${describeKind(wanted)} (it was built with ${wanted.version}), and this machine has ${have.size > 0 ? `only ${machine}` : "no Python pypakr can use"}`,
    // The name is made of the image's fields: quoted, so pasting the hint can never run what an image put there.
    { code: "python-mismatch", hint: `Install ${describeKind(wanted)} (any ${majorMinor(wanted.version)} release), then run: pypakr init --python ${shellWord(suggestedPython(wanted))}` },
  );
}
