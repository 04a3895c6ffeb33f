/**
 * PEP 440 for the hub's index: a sortable key per version, so a specifier
 * such as `<2` or `==3.1.*` becomes an indexed range scan, and the exact test
 * (`satisfies`) that decides each row the range let through.
 *
 * The key holds only the epoch and the release segments ("1!3.1.0rc1" keys as
 * 1!3.1): pre, post, dev and local parts never move a version out of its
 * release's key, so a range computed from the bounds' releases can only let
 * too much through, never too little; satisfies() then has the last word.
 */
import { compare, explain, satisfies, validRange } from "@renovatebot/pep440";

/** After a key K and before every longer key K.N (keys are digits and dots; "-" sorts before "."). */
const JUST_ABOVE_KEY = "-";

/** A key range: low inclusive, high exclusive; null where unbounded. */
export interface KeyRange {
  low: string | null;
  high: string | null;
}

/** One clause of a specifier such as `>=1.26`. */
export interface Clause {
  operator: "~=" | "===" | "==" | "!=" | "<=" | ">=" | "<" | ">";
  version: string;
}

const CLAUSE = /^(~=|===|==|!=|<=|>=|<|>)([^\s,]+)$/;

/** PEP 503's normal form of a distribution name: how names are compared. */
export function normalizedName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

/** Each segment is prefixed by its digit count, so "10" sorts after "9" as a string. */
function encodeSegments(segments: number[]): string | null {
  if (!segments.every((segment) => Number.isSafeInteger(segment) && segment >= 0)) return null;
  return segments.map((segment) => String(String(segment).length).padStart(2, "0") + String(segment)).join(".");
}

/** Epoch and release, the form a key is made of; null for what is not a PEP 440 version. */
function releaseSegments(version: string): number[] | null {
  const parsed = explain(version);
  return parsed === null ? null : [parsed.epoch, ...parsed.release];
}

/** Without trailing zeros: 3.1.0 is 3.1 in PEP 440. */
function withoutTrailingZeros(segments: number[]): number[] {
  const trimmed = [...segments];
  while (trimmed.length > 1 && trimmed[trimmed.length - 1] === 0) trimmed.pop();
  return trimmed;
}

/** The sortable key of a version; null for a version PEP 440 cannot read (only `===` can match it). */
export function versionKey(version: string): string | null {
  const segments = releaseSegments(version);
  return segments === null ? null : encodeSegments(withoutTrailingZeros(segments));
}

/** The clauses of a whitespace-free specifier, or null when one is not a clause PEP 440 (and this parser) accepts. */
export function specifierClauses(specifier: string): Clause[] | null {
  if (specifier === "" || !validRange(specifier)) return null;
  const clauses: Clause[] = [];
  for (const part of specifier.split(",")) {
    const match = CLAUSE.exec(part);
    if (!match) return null;
    clauses.push({ operator: match[1] as Clause["operator"], version: match[2] ?? "" });
  }
  return clauses;
}

/** The key range of `PREFIX.*`: every release that starts with the prefix's epoch and segments. */
function prefixRange(segments: number[] | null): KeyRange {
  if (segments === null || segments.length === 0) return { low: null, high: null };
  const next = [...segments];
  next[next.length - 1] = (next[next.length - 1] ?? 0) + 1;
  return { low: encodeSegments(withoutTrailingZeros(segments)), high: encodeSegments(next) };
}

function clauseRange(clause: Clause): KeyRange {
  const { operator, version } = clause;
  if (operator === "==" && version.endsWith(".*")) return prefixRange(releaseSegments(version.slice(0, -2)));
  const key = versionKey(version);
  if (key === null) return { low: null, high: null };
  // Up to and including this very key (the bound's release and its pre/post/dev/local variants, which share it);
  // "-" sorts before the "." that a later release such as 3.0.1 (after 3) continues the key with.
  const throughKey = key + JUST_ABOVE_KEY;
  switch (operator) {
    case ">":
    case ">=":
      return { low: key, high: null };
    case "<":
    case "<=":
      return { low: null, high: throughKey };
    case "==":
      return { low: key, high: throughKey };
    case "~=":
      // ~=3.1.2 is >=3.1.2 and ==3.1.*.
      return { low: key, high: prefixRange(releaseSegments(version)?.slice(0, -1) ?? null).high };
    default:
      // != and === narrow nothing.
      return { low: null, high: null };
  }
}

/** The narrowest key range every version satisfying all clauses falls in. */
export function keyRange(clauses: Clause[]): KeyRange {
  let low: string | null = null;
  let high: string | null = null;
  for (const clause of clauses) {
    const range = clauseRange(clause);
    if (range.low !== null && (low === null || range.low > low)) low = range.low;
    if (range.high !== null && (high === null || range.high < high)) high = range.high;
  }
  return { low, high };
}

/**
 * Whether a version meets every clause. Pre-releases count (an image holds
 * what it holds: `urllib3<2` is true of 1.27rc1), except where PEP 440's own
 * rules exclude them (`<2` is false of 2.0rc1). `===` is PEP 440's arbitrary
 * string equality, done here since the library fails on a version it cannot
 * parse (it answers false for the other operators).
 */
export function versionSatisfies(version: string, clauses: Clause[]): boolean {
  return clauses.every((clause) => {
    if (clause.operator === "===") return version.toLowerCase() === clause.version.toLowerCase();
    try {
      return satisfies(version, clause.operator + clause.version, { prereleases: true });
    } catch {
      return false;
    }
  });
}

/** -1, 0 or 1 by PEP 440 order; null when either is not a PEP 440 version. */
export function compareVersions(a: string, b: string): number | null {
  if (explain(a) === null || explain(b) === null) return null;
  return Math.sign(compare(a, b));
}
