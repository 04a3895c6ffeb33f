/**
 * `.pypakrignore`: what of a source stays out of the build and the image, in
 * gitignore syntax (matched by the `ignore` package, as git would, case
 * included). A project folder holds things that are not the app: its git
 * history, virtual environments, bytecode, build output, tool caches. They
 * are left out by default, before the file's own lines, so a line such as
 * `!dist/` takes one back. As with `.dockerignore`, what is left out is not
 * copied into the build at all: `setup` does not see it either.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import ignore, { type Ignore } from "ignore";
import { PypakrError } from "../util/errors.js";

export const IGNORE_FILE = ".pypakrignore";

/**
 * Left out unless the file re-includes them. `build/` and `dist/` match at any
 * depth, as in the Python .gitignore most projects start from (a `pip install`
 * of a project in a subdirectory leaves its build/ there). The ignore file
 * itself is build configuration, not part of the app (`!/.pypakrignore` ships it).
 */
export const DEFAULT_IGNORES: readonly string[] = [
  ".git",
  "__pycache__/",
  "*.pyc",
  "build/",
  "dist/",
  "*.egg-info/",
  ".mypy_cache/",
  ".pytest_cache/",
  ".ruff_cache/",
  ".tox/",
  ".nox/",
  `/${IGNORE_FILE}`,
];

/** The venv marker: a directory holding one is a virtual environment, whatever its name (.venv, venv, env, ...). */
export const VENV_MARKER = "pyvenv.cfg";

/** Bytes an ignore file may hold: far more than any list of patterns needs. */
const MAX_IGNORE_FILE = 1 << 20;

export class SourceRules {
  private constructor(
    private readonly rules: Ignore,
    /** Whether the source has its own ignore file (for messages). */
    readonly hasFile: boolean,
  ) {}

  /** The rules for a source whose top is `root`: the defaults, then `root/.pypakrignore` if there is one. */
  static async load(root: string, what: string): Promise<SourceRules> {
    const rules = ignore({ ignorecase: false }).add(DEFAULT_IGNORES);
    const file = path.join(root, IGNORE_FILE);
    const stat = await fs.lstat(file).catch(() => null);
    if (!stat) return new SourceRules(rules, false);
    if (!stat.isFile()) throw new PypakrError(`${what}'s ${IGNORE_FILE} is not a regular file`, { code: "source-invalid", hint: `Make ${IGNORE_FILE} a text file of gitignore patterns, or remove it.` });
    if (stat.size > MAX_IGNORE_FILE) throw new PypakrError(`${what}'s ${IGNORE_FILE} is larger than ${MAX_IGNORE_FILE} bytes`, { code: "source-invalid", hint: "List patterns (gitignore syntax), not files one by one." });
    rules.add(await fs.readFile(file, "utf8"));
    return new SourceRules(rules, true);
  }

  /**
   * Whether `relative` (a path below the source's top, with / separators)
   * stays out. `venv`: a directory holding pyvenv.cfg, left out unless a
   * `!` line names it.
   */
  leavesOut(relative: string, kind: { dir: boolean; venv?: boolean }): boolean {
    const result = this.rules.test(kind.dir ? `${relative}/` : relative);
    if (result.ignored) return true;
    return kind.venv === true && !result.unignored;
  }

  /**
   * Of a tree's entries (every directory listed, in any order), the paths
   * that stay out, topmost first: each one that the rules leave out, and not
   * what is below it (which goes with it).
   */
  topmostLeftOut(entries: readonly { path: string; dir: boolean }[]): string[] {
    const files = new Set(entries.flatMap((entry) => (entry.dir ? [] : [entry.path])));
    const out = new Set<string>();
    const topmost: string[] = [];
    for (const entry of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
      // Sorted, a directory comes before what it holds.
      const parts = entry.path.split("/");
      if (parts.some((_, index) => index > 0 && out.has(parts.slice(0, index).join("/")))) continue;
      if (this.leavesOut(entry.path, { dir: entry.dir, venv: entry.dir && files.has(`${entry.path}/${VENV_MARKER}`) })) {
        out.add(entry.path);
        topmost.push(entry.path);
      }
    }
    return topmost;
  }
}

/**
 * Says what was left out, so a user who misses a file in the image sees why:
 * the topmost paths only (`.git`, not each of its objects).
 */
export function describeLeftOut(paths: readonly string[], limit = 8): string {
  const shown = paths.slice(0, limit).join(", ");
  return paths.length > limit ? `${shown} and ${paths.length - limit} more` : shown;
}
