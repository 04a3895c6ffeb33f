/**
 * Every temporary name pypakr makes, and the parsers that read them back.
 * A name carries its process's pid, so whoever comes next can remove what a
 * killed process left (removeDeadTemp) and leave a live one's work alone.
 * Three forms, made and parsed only here:
 *
 * - `STEM` + `PID-RANDOM` (tempName): build work envs (padded with "_" to a
 *   fixed length), scratch dirs;
 * - `.NAME.PURPOSE-PID-RANDOM` (siblingTempPath): beside a target that a
 *   rename replaces, hidden so it never looks like the real thing;
 * - `PID-PURPOSE-RANDOM` (storeTempName): in the store's tmp/.
 */
import { randomBytes } from "node:crypto";
import * as path from "node:path";

/** What randomSuffix() makes, as a pattern. */
const RANDOM = "[0-9a-f]{12}";
const TEMP_TAIL = new RegExp(`^(\\d+)-${RANDOM}_*$`);
const ANY_TEMP = new RegExp(`-(\\d+)-${RANDOM}_*$`);
const SIBLING_TAIL = new RegExp(`^([a-z]+)-(\\d+)-${RANDOM}$`);
const ANY_SIBLING = new RegExp(`^\\..+\\.[a-z]+-(\\d+)-${RANDOM}$`);
/** Loose on purpose: whatever in the store's tmp/ starts with a pid is that process's. */
const STORE_TEMP = /^(\d+)-(?:([a-z]+)-)?/;

export function randomSuffix(): string {
  return randomBytes(6).toString("hex");
}

/** `stem` (ending in "-" or ".") plus the owning process's pid and a random part. */
export function tempName(stem: string): string {
  return `${stem}${process.pid}-${randomSuffix()}`;
}

/** The pid a tempName(stem) names, or null when `name` is not one with `stem`. */
export function tempOwner(name: string, stem: string): number | null {
  if (!name.startsWith(stem)) return null;
  const match = TEMP_TAIL.exec(name.slice(stem.length));
  return match ? Number(match[1]) : null;
}

/** The pid any tempName() names, whatever its stem, or null. */
export function anyTempOwner(name: string): number | null {
  const pid = Number(ANY_TEMP.exec(name)?.[1] ?? NaN);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/**
 * A path beside `target` (same directory, so same filesystem) that a rename can
 * move onto `target` atomically. Hidden, so a half-made result never looks like
 * the real thing; named `.NAME.PURPOSE-PID-RANDOM`, so the next pypakr that
 * writes `target` removes it if this process dies first (removeDeadSiblings).
 */
export function siblingTempPath(target: string, purpose: string): string {
  return path.join(path.dirname(target), tempName(`.${path.basename(target)}.${purpose}-`));
}

/** What siblingTempPath(target, ...) named: a name -> [purpose, pid], or null. */
export function siblingOwner(target: string): (name: string) => { purpose: string; pid: number } | null {
  const prefix = `.${path.basename(target)}.`;
  return (name) => {
    if (!name.startsWith(prefix)) return null;
    const match = SIBLING_TAIL.exec(name.slice(prefix.length));
    return match ? { purpose: match[1] as string, pid: Number(match[2]) } : null;
  };
}

/** The pid any siblingTempPath() names, whatever its target, or null. */
export function anySiblingOwner(name: string): number | null {
  const pid = ANY_SIBLING.exec(name)?.[1];
  return pid ? Number(pid) : null;
}

/** A name for the store's tmp/, which gc knows belongs to this process while it lives. */
export function storeTempName(purpose: string): string {
  return `${process.pid}-${purpose}-${randomSuffix()}`;
}

/** The pid (and purpose) a storeTempName() names, or null. */
export function storeTempOwner(name: string): { pid: number; purpose: string | undefined } | null {
  const match = STORE_TEMP.exec(name);
  const pid = Number(match?.[1] ?? NaN);
  return match && pid > 0 ? { pid, purpose: match[2] } : null;
}
