/**
 * pypakr's settings: the original's `~/.pypakr` INI file (`[Global]` with
 * `base` and `pypakrdir`, plus our optional `python`), environment overrides,
 * and XDG defaults when there is no file at all.
 *
 * Departure from the original: there `base` was the one base venv. pypakr keeps
 * one base per interpreter kind, so `base` names the directory that holds them
 * (`BASE/cpython-3.11-linux-x86_64`).
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as ini from "ini";
import { isErrno, PypakrError } from "../util/errors.js";

export interface Config {
  /** The file the settings came from, or null when defaults apply. */
  file: string | null;
  pypakrDir: string;
  basesDir: string;
  /** Interpreter used when no `--python` is given (name on PATH or a path). */
  python: string;
  /** Caps on untrusted images' size in entries (PYPAKR_MAX_LAYER_ENTRIES, PYPAKR_MAX_IMAGE_ENTRIES). */
  limits: EntryLimits;
}

export interface EntryLimits {
  /** Entries one layer (or source archive) may hold. */
  layerEntries: number;
  /** Entries a container may get from its base and all its image's layers together. */
  imageEntries: number;
}

/** See DEFAULT_MAX_ENTRIES in src/image/extract/entry-rules.ts, which these defaults equal. */
const DEFAULT_LIMIT = 1_000_000;

function limitFromEnv(env: NodeJS.ProcessEnv, name: string): number {
  const value = env[name];
  if (value === undefined || value === "") return DEFAULT_LIMIT;
  if (!/^[1-9][0-9]{0,9}$/.test(value)) throw new PypakrError(`${name}="${value}" is not a positive whole number`, { code: "bad-config", hint: `Set it to a number of entries such as ${DEFAULT_LIMIT}, or unset it.` });
  return Number(value);
}

const KNOWN_KEYS = new Set(["base", "pypakrdir", "python"]);
const SECTION = "Global";

export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.HOME ?? os.homedir(), ".pypakr");
}

function defaultPypakrDir(env: NodeJS.ProcessEnv): string {
  const dataHome = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(env.HOME ?? os.homedir(), ".local", "share");
  return path.join(dataHome, "pypakr");
}

function expandHome(value: string, env: NodeJS.ProcessEnv): string {
  if (value === "~" || value.startsWith("~/")) return path.join(env.HOME ?? os.homedir(), value.slice(1));
  return value;
}

function configError(file: string, line: number, problem: string, hint: string): PypakrError {
  return new PypakrError(`${file}:${line}: ${problem}`, { code: "bad-config", hint });
}

/**
 * The `ini` package parses leniently and cannot say where a problem is, so
 * each line is checked first; `ini` then does the parsing proper.
 */
function checkLines(file: string, text: string): Map<string, number> {
  const keyLines = new Map<string, number>();
  let section: string | null = null;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const number = index + 1;
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      section = (header[1] ?? "").trim();
      if (section !== SECTION) throw configError(file, number, `unknown section [${section}]`, `pypakr reads only [${SECTION}]; rename the section or remove it.`);
      return;
    }
    const pair = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (!pair) throw configError(file, number, `cannot read "${line}"`, "Each line must be [Global], 'key = value', or a comment starting with # or ;.");
    const key = pair[1] ?? "";
    if (section === null) throw configError(file, number, `"${key}" comes before any section`, `Put "[${SECTION}]" on a line above it.`);
    if (!KNOWN_KEYS.has(key)) throw configError(file, number, `unknown key "${key}"`, `Known keys: ${[...KNOWN_KEYS].join(", ")}.`);
    if ((pair[2] ?? "") === "") throw configError(file, number, `"${key}" has no value`, `Write "${key} = <value>" or remove the line.`);
    keyLines.set(key, number);
  });
  return keyLines;
}

function absolute(file: string, line: number | undefined, key: string, value: string, env: NodeJS.ProcessEnv): string {
  const expanded = expandHome(value, env);
  if (!path.isAbsolute(expanded)) {
    throw configError(file, line ?? 1, `"${key}" must be an absolute path, not "${value}"`, `Write the full path, e.g. "${key} = ${path.join(env.HOME ?? os.homedir(), "pypakr")}".`);
  }
  // normalize keeps a trailing slash; a directory setting must not carry one into joined paths.
  return path.normalize(expanded).replace(/(.)\/+$/, "$1");
}

async function readConfigFile(file: string, required: boolean): Promise<string | null> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (error) {
    if (!required && isErrno(error, "ENOENT")) return null;
    throw new PypakrError(`cannot read config file ${file}: ${(error as Error).message}`, {
      code: "bad-config",
      hint: required ? "PYPAKR_CONFIG names a config file that must exist; fix the path or unset it." : "Fix the file's permissions or remove it.",
    });
  }
}

/**
 * Settings in order of precedence: PYPAKR_HOME and PYPAKR_PYTHON, then the
 * config file (PYPAKR_CONFIG, else ~/.pypakr), then defaults.
 */
export async function loadConfig(env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const explicit = env.PYPAKR_CONFIG;
  const file = explicit ? path.resolve(explicit) : defaultConfigFile(env);
  const text = await readConfigFile(file, Boolean(explicit));
  const values: Record<string, string> = {};
  let keyLines = new Map<string, number>();
  if (text !== null) {
    keyLines = checkLines(file, text);
    const parsed = ini.parse(text) as Record<string, Record<string, unknown>>;
    for (const [key, value] of Object.entries(parsed[SECTION] ?? {})) values[key] = String(value);
  }
  const fromFile = (key: string) => (values[key] === undefined ? undefined : absolute(file, keyLines.get(key), key, values[key], env));

  // Both keys are checked even when PYPAKR_HOME overrides them, so a mistake in the file never hides.
  const configuredDir = fromFile("pypakrdir");
  const configuredBases = fromFile("base");
  const pypakrDir = env.PYPAKR_HOME ? path.resolve(env.PYPAKR_HOME) : (configuredDir ?? defaultPypakrDir(env));
  const basesDir = env.PYPAKR_HOME ? path.join(pypakrDir, "bases") : (configuredBases ?? path.join(pypakrDir, "bases"));
  const python = env.PYPAKR_PYTHON || values.python || "python3";
  const limits = { layerEntries: limitFromEnv(env, "PYPAKR_MAX_LAYER_ENTRIES"), imageEntries: limitFromEnv(env, "PYPAKR_MAX_IMAGE_ENTRIES") };
  return { file: text === null ? null : file, pypakrDir, basesDir, python, limits };
}

/** pypakr's content-addressed store (src/store/store.ts). */
export function storeDir(config: Config): string {
  return path.join(config.pypakrDir, "store");
}

/** Where builds and image reads keep their temporary files. */
export function tmpDir(config: Config): string {
  return path.join(config.pypakrDir, "tmp");
}
