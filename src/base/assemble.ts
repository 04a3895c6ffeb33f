/**
 * Planning a venv made of a base plus unpacked layers: every path the venv
 * will hold and where its content comes from (the base, or a layer's
 * unpacked tree), with OCI whiteouts applied in memory. Writing the plan is
 * container/materialize.ts's job. Planning first means nothing is written
 * only to be deleted by a later layer. It lives with the base because it
 * checks the base's manifest entries by the same rules as layer entries, and
 * because `verify` and the build's work env plan the same way.
 */
import { DEFAULT_MAX_ENTRIES, entryPathProblem, type ListedEntry, type RelocationKind, symlinkProblem } from "../image/index.js";
import { RECORD_PATH } from "../python/index.js";
import { PypakrError } from "../util/errors.js";
import { PathMap } from "../util/path-map.js";
import { normalizeEntryName } from "../util/tar.js";
import type { Base } from "./base.js";
import type { ManifestEntry } from "./manifest.js";
import { RESERVED_NAMES } from "../layout/index.js";

export interface PlannedFile {
  type: "file";
  source: string;
  mode: number;
  sha256: string | undefined;
  fromBase: boolean;
  /** May share the source's inode (--link hardlink); false: always the container's own copy (see LinkMode). */
  shareable: boolean;
  relocate?: { kind: RelocationKind; from: string };
  /** What the source looked like when recorded; a link or copy checks it still does. */
  expect?: { size: number; mtimeMs: number };
}

export type PlannedEntry = { type: "dir"; mode: number } | { type: "symlink"; link: string; fromLayer: boolean } | PlannedFile;

export interface LayerTree {
  tree: string;
  entries: ListedEntry[];
  /** The layer of one distribution (files from its RECORD), whose files may be linked; any other layer is copied. */
  distribution?: boolean;
}

export interface Relocation {
  files: ReadonlyMap<string, RelocationKind>;
  placeholder: string;
}

function planError(entry: string, problem: string): PypakrError {
  return new PypakrError(`layer entry "${entry}" ${problem}; refusing the image`, { code: "unsafe-entry", hint: "The image is damaged or was crafted; get it from a trusted source." });
}

function baseError(base: Base, entry: string, problem: string): PypakrError {
  return new PypakrError(`the base at ${base.dir} lists "${entry}", which ${problem}; refusing to use it`, {
    code: "base-damaged",
    hint: "The base's record was damaged or planted; recreate it with pypakr init --force.",
  });
}

/** Why a base's manifest entry may not be placed, or null: the rules layer entries follow, with the base's own absolute links allowed. */
function baseEntryProblem(entry: ManifestEntry): string | null {
  const name = normalizeEntryName(entry.path);
  if ("error" in name) return name.error;
  if (name.path !== entry.path || name.path === "") return "is not a plain relative path";
  const problem = entryPathProblem(entry.path, RESERVED_NAMES);
  if (problem) return problem;
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o777) return "has a mode outside 0-0777";
  // A base is made by pypakr init from a local interpreter: its links to that interpreter are absolute.
  if (entry.type === "symlink") return symlinkProblem(entry.path, entry.link ?? "", true);
  return null;
}

/** A directory no entry names but one of its entries needs (a layer may leave out its parents). */
const MADE_PARENT = { missing: { type: "dir", mode: 0o755 } as const satisfies PlannedEntry, accept: (value: PlannedEntry | undefined) => value?.type === "dir" };

/**
 * The venv being planned: every path and what goes there. One routine
 * places base and layer entries alike, so both get the same checks: each
 * parent must be (or becomes) a planned directory, never a symlink or a
 * file. Dropping a path drops what is below it in time proportional to what
 * goes (see PathMap), so planning is linear in entries.
 */
class Plan {
  readonly entries = new PathMap<PlannedEntry>();
  private placed = 0;

  constructor(private readonly maxEntries: number) {}

  /** `below` names what a blocking parent came from in messages ("a lower layer", "the base"). */
  place(file: string, planned: PlannedEntry, fail: (problem: string) => PypakrError, below = "a lower layer"): void {
    if (++this.placed > this.maxEntries) {
      throw new PypakrError(`the image and its base hold more than ${this.maxEntries} entries; refusing it`, {
        code: "too-large",
        hint: "The image was crafted to exhaust this machine, or is larger than pypakr allows by default; if you trust it, raise the limit with PYPAKR_MAX_IMAGE_ENTRIES.",
      });
    }
    const blocked = this.entries.setUnder(file, planned, MADE_PARENT, (old) => planned.type !== "dir" && old?.type === "dir");
    if (blocked) throw fail(`needs "${blocked.path}" to be a directory, but ${below} made it a ${blocked.value?.type ?? "file"}`);
  }

  /** A whiteout: the path and everything below it goes. */
  remove(file: string): void {
    this.entries.deleteTree(file);
  }

  /** An opaque directory: everything below it goes. */
  empty(dir: string): void {
    this.entries.deleteBelow(dir);
  }
}

export interface PlanOptions {
  /** Entries the base and all layers may hold together (DEFAULT_MAX_ENTRIES when not given). */
  maxEntries?: number;
}

export function planVenv(base: Base, layers: readonly LayerTree[], relocation: Relocation, options: PlanOptions = {}): Map<string, PlannedEntry> {
  const plan = new Plan(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
  for (const entry of base.entries) {
    const problem = baseEntryProblem(entry);
    const fail = (text: string) => baseError(base, entry.path, text);
    if (problem) throw fail(problem);
    if (entry.type === "dir") plan.place(entry.path, { type: "dir", mode: entry.mode }, fail, "the base");
    else if (entry.type === "symlink") plan.place(entry.path, { type: "symlink", link: entry.link ?? "", fromLayer: false }, fail, "the base");
    else {
      const planned: PlannedFile = {
        type: "file",
        source: `${base.dir}/${entry.path}`,
        mode: entry.mode,
        // A RECORD's manifest hash is of its normalized form (see normalizeRecord), not of the file.
        sha256: entry.relocate || RECORD_PATH.test(entry.path) ? undefined : entry.sha256,
        fromBase: true,
        // A base's files that no RECORD lists are the interpreter's links, pyvenv.cfg and bin/activate*,
        // which name the base's path and so get their own relocated copy anyway, and Activate.ps1 (it
        // finds its path at run time; nobody edits it). The rest are pip's, from its RECORD. So base
        // files keep the link mode: what a user edits is never linked.
        shareable: true,
      };
      // Set only when present (no spreads): planning runs once per entry of every container made.
      if (entry.relocate) planned.relocate = { kind: entry.relocate, from: base.path };
      if (entry.mtimeMs !== undefined && entry.size !== undefined) planned.expect = { size: entry.size, mtimeMs: entry.mtimeMs };
      plan.place(entry.path, planned, fail, "the base");
    }
  }
  for (const layer of layers) {
    // Whiteouts and opaque markers hide what lower layers put there, whatever their order in this layer.
    for (const entry of layer.entries) {
      if (entry.type === "whiteout") plan.remove(entry.path);
      else if (entry.type === "opaque") plan.empty(entry.path);
    }
    for (const entry of layer.entries) {
      if (entry.type === "whiteout" || entry.type === "opaque") continue;
      const fail = (problem: string) => planError(entry.path, problem);
      if (entry.type === "dir") plan.place(entry.path, { type: "dir", mode: 0o755 }, fail);
      else if (entry.type === "symlink") plan.place(entry.path, { type: "symlink", link: entry.link, fromLayer: true }, fail);
      else {
        const kind = relocation.files.get(entry.path);
        const planned: PlannedFile = {
          type: "file",
          source: `${layer.tree}/${entry.path}`,
          mode: entry.executable ? 0o755 : 0o644,
          sha256: kind ? undefined : entry.sha256,
          fromBase: false,
          shareable: layer.distribution === true,
        };
        if (kind) planned.relocate = { kind, from: relocation.placeholder };
        if (entry.mtimeMs !== undefined) planned.expect = { size: entry.size, mtimeMs: entry.mtimeMs };
        plan.place(entry.path, planned, fail);
      }
    }
  }
  return new Map(plan.entries.entries());
}
