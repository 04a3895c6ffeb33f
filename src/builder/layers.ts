/**
 * Splitting a build's changes into layers: one per installed distribution
 * (the files its `*.dist-info/RECORD` lists, console scripts included), then
 * one for everything else (app files, setup's other output, whiteouts). The
 * same wheel on the same base thus always makes the same layer.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { type LayerEntry, PLACEHOLDER } from "../image/index.js";
import { interpreterNames } from "../base/index.js";
import { INSTALL_MARKER, normalizeRecord, RECORD_PATH, recordPaths, resolveRecordPath } from "../python/index.js";
import { ancestors } from "../util/path-map.js";
import type { Change, WorkEnvDiff } from "./diff.js";

export interface DistributionInfo {
  name: string;
  version: string;
  wheelTags: string[];
}

export interface PlannedLayer {
  distribution: DistributionInfo | null;
  entries: LayerEntry[];
}

/** `Key: value` lines of a METADATA or WHEEL file (email-header style), header block only. */
export function headerValues(text: string, key: string): string[] {
  const values: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === "") break;
    const match = /^([^:\s]+):\s*(.*)$/.exec(line);
    if (match && match[1]?.toLowerCase() === key.toLowerCase()) values.push((match[2] ?? "").trim());
  }
  return values;
}

export function normalizedName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

async function readOptional(file: string): Promise<string> {
  return fs.readFile(file, "utf8").catch(() => "");
}

async function describeDistribution(workEnv: string, distInfo: string): Promise<DistributionInfo> {
  const metadata = await readOptional(path.join(workEnv, distInfo, "METADATA"));
  const wheel = await readOptional(path.join(workEnv, distInfo, "WHEEL"));
  const fallback = path.posix.basename(distInfo, ".dist-info").split("-");
  return {
    name: headerValues(metadata, "Name")[0] ?? fallback[0] ?? distInfo,
    version: headerValues(metadata, "Version")[0] ?? fallback[1] ?? "",
    wheelTags: headerValues(wheel, "Tag"),
  };
}

function toLayerEntry(workEnv: string, change: Change, records: ReadonlyMap<string, string>, interpreters: ReadonlySet<string>): LayerEntry {
  if (change.type !== "file") return change;
  const record = records.get(change.path);
  if (record !== undefined) return { type: "file", path: change.path, executable: change.executable, content: Buffer.from(record) };
  return {
    type: "file",
    path: change.path,
    executable: change.executable,
    source: path.join(workEnv, change.path),
    size: change.size,
    // The same form the manifest hashed (placeholderForm), so the same script compares and packs the same however pip ran.
    ...(change.relocate ? { rewrite: { from: workEnv, to: PLACEHOLDER, interpreters } } : {}),
  };
}

/**
 * Each changed RECORD as it goes into a layer (see normalizeRecord). Its
 * relocated files are all of the work env's, not just the changed ones, as
 * in the manifest (scanTree): a script that came out as the base has it is no
 * change, but its RECORD line must still drop the hash pip took at the work path.
 */
async function normalizedRecords(workEnv: string, changes: Change[], relocated: ReadonlySet<string>): Promise<Map<string, string>> {
  const records = new Map<string, string>();
  for (const change of changes) {
    if (change.type !== "file" || !RECORD_PATH.test(change.path)) continue;
    const text = await readOptional(path.join(workEnv, change.path));
    records.set(change.path, normalizeRecord(change.path, text, (file) => relocated.has(file)));
  }
  return records;
}

export async function planLayers(workEnv: string, { changes, relocated }: WorkEnvDiff): Promise<PlannedLayer[]> {
  const records = await normalizedRecords(workEnv, changes, relocated);
  const interpreters = interpreterNames(workEnv);
  const distributions = await Promise.all(
    [...records].map(async ([record, text]) => {
      // The RECORD itself is owned too, though it does not list itself after normalizing; install markers are not.
      const owned = [record, ...recordPaths(text).flatMap((entry) => resolveRecordPath(record, entry) ?? [])].filter((file) => !INSTALL_MARKER.test(file));
      return { info: await describeDistribution(workEnv, path.posix.dirname(record)), owned };
    }),
  );
  distributions.sort((a, b) => normalizedName(a.info.name).localeCompare(normalizedName(b.info.name)) || a.info.version.localeCompare(b.info.version));

  const owner = new Map<string, number>();
  distributions.forEach((distribution, index) => {
    for (const file of distribution.owned) if (!owner.has(file)) owner.set(file, index);
  });
  const changedDirs = new Set(changes.filter((change) => change.type === "dir").map((change) => change.path));
  const layers: PlannedLayer[] = distributions.map((distribution) => ({ distribution: distribution.info, entries: [] }));
  const rest: PlannedLayer = { distribution: null, entries: [] };
  const dirsTaken = new Set<string>();
  const dirsInLayer = layers.map(() => new Set<string>());

  for (const change of changes) {
    const index = change.type === "file" || change.type === "symlink" ? owner.get(change.path) : undefined;
    const layer = index === undefined ? undefined : layers[index];
    const dirs = index === undefined ? undefined : dirsInLayer[index];
    if (!layer || !dirs) continue;
    layer.entries.push(toLayerEntry(workEnv, change, records, interpreters));
    for (const dir of ancestors(change.path)) {
      if (!changedDirs.has(dir) || dirs.has(dir)) continue;
      layer.entries.push({ type: "dir", path: dir });
      dirs.add(dir);
      dirsTaken.add(dir);
    }
  }
  for (const change of changes) {
    const owned = (change.type === "file" || change.type === "symlink") && owner.has(change.path);
    if (owned || (change.type === "dir" && dirsTaken.has(change.path))) continue;
    rest.entries.push(toLayerEntry(workEnv, change, records, interpreters));
  }
  return [...layers.filter((layer) => layer.entries.length > 0), rest];
}
