/**
 * A distribution's `*.dist-info/RECORD`: the CSV list of files it installed,
 * with their hashes and sizes (see the wheel spec).
 */
import * as path from "node:path";

export const RECORD_PATH = /^(.*\/)?[^/]+\.dist-info\/RECORD$/;

interface RecordLine {
  raw: string;
  file: string;
}

function parseLine(line: string): RecordLine | null {
  if (!line) return null;
  if (line.startsWith('"')) {
    const match = /^"((?:[^"]|"")*)"/.exec(line);
    return match ? { raw: line, file: (match[1] ?? "").replace(/""/g, '"') } : null;
  }
  return { raw: line, file: line.split(",")[0] ?? "" };
}

/** First field of each RECORD line (paths may be quoted when they hold commas). */
export function recordPaths(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map(parseLine)
    .flatMap((line) => (line?.file ? [line.file] : []));
}

/** Where a RECORD path lands, relative to the venv root, or null when it leaves the venv. */
export function resolveRecordPath(recordFile: string, file: string): string | null {
  const installRoot = path.posix.dirname(path.posix.dirname(recordFile));
  const resolved = path.posix.normalize(path.posix.join(installRoot, file));
  return resolved.startsWith("../") || resolved === ".." || path.posix.isAbsolute(resolved) ? null : resolved;
}

/**
 * Files that say how a distribution was installed rather than what it is:
 * REQUESTED (asked for by name, not pulled in as a dependency) and
 * direct_url.json (installed from a URL or path). They stay out of the
 * distribution's layer, so the same wheel always makes the same layer.
 */
export const INSTALL_MARKER = /\.dist-info\/(REQUESTED|direct_url\.json)$/;

/**
 * The RECORD as pypakr stores it, the same whatever path and however the
 * distribution was installed:
 * - hash and size dropped (`path,,`, which the spec allows) for files that
 *   are relocated: pip hashed them as written, holding the path of the venv
 *   they went into, and no relocated copy could match that hash anyway;
 * - no lines for install markers (INSTALL_MARKER), which travel in the
 *   image's last layer;
 * - no lines for bytecode, which no image holds (containers compile on
 *   demand, and pip's uninstall finds a module's bytecode by itself), so a
 *   build that compiled and one that did not make the same layer.
 */
export function normalizeRecord(recordFile: string, text: string, isRelocated: (venvPath: string) => boolean): string {
  let changed = false;
  const lines = text.split("\n").flatMap((line) => {
    const parsed = parseLine(line.replace(/\r$/, ""));
    if (!parsed) return [line];
    const resolved = resolveRecordPath(recordFile, parsed.file);
    if (resolved && (INSTALL_MARKER.test(resolved) || resolved.split("/").includes("__pycache__"))) {
      changed = true;
      return [];
    }
    if (!resolved || !isRelocated(resolved)) return [line];
    const quoted = parsed.file.includes(",") || parsed.file.includes('"') ? `"${parsed.file.replace(/"/g, '""')}"` : parsed.file;
    const normalized = `${quoted},,`;
    if (normalized !== line) changed = true;
    return [normalized];
  });
  return changed ? lines.join("\n") : text;
}
