/**
 * A distribution's core metadata (its `*.dist-info/METADATA`), read for the
 * few fields an SBOM and the hub show. The file is an email-header document
 * written by whoever built the wheel: every value is capped, stripped of
 * control and bidi characters, and a homepage is kept only when it is an
 * http(s) URL, so no caller has to distrust it again (they still escape it).
 */
import type { DistributionMetadata } from "./types.js";

/** How much of each field is kept: enough for any real value, little enough for a page or a database row. */
export const METADATA_LIMITS = { licenseExpression: 500, license: 200, classifier: 200, classifiers: 32, requiresPython: 200, summary: 500, homepage: 500 } as const;

// eslint-disable-next-line no-control-regex -- stripping control characters is the point
const UNWANTED = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** One line of text as shown: control characters out, runs of spaces as one, cut at `limit` characters (not inside a surrogate pair). */
export function cleanText(text: string, limit: number): string {
  const clean = text.replace(UNWANTED, " ").replace(/ {2,}/g, " ").trim();
  if (clean.length <= limit) return clean;
  const cut = /[\ud800-\udbff]/.test(clean.charAt(limit - 1)) ? limit - 1 : limit;
  return clean.slice(0, cut).trimEnd();
}

/**
 * The header block's fields, in order: `Name: value` lines up to the first
 * empty line, a line starting with a space or tab continuing the one before
 * (RFC 822 folding, which setuptools uses for a multi-line License).
 */
export function metadataHeaders(text: string): { name: string; value: string }[] {
  const headers: { name: string; value: string }[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === "") break;
    const last = headers.at(-1);
    if (/^[ \t]/.test(line)) {
      if (last) last.value += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    headers.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  return headers;
}

/** setuptools writes UNKNOWN for a field the project left out. */
function present(value: string): boolean {
  return value !== "" && value.toUpperCase() !== "UNKNOWN";
}

/** The first line that holds anything (a folded value may start on the next one). */
function firstLine(value: string): string {
  return value.split("\n").find((line) => line.trim() !== "") ?? "";
}

/** `value` when it is an absolute http(s) URL of at most `limit` characters, as the URL parser writes it; a cut URL would lead elsewhere, so a longer one is dropped. */
export function httpUrl(value: string): string | null {
  const text = value.trim();
  if (!/^https?:\/\//i.test(text) || /[\s\p{Cc}]/u.test(text)) return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "" || url.username !== "" || url.password !== "") return null;
  return url.href.length <= METADATA_LIMITS.homepage ? url.href : null;
}

/** A `Project-URL: Label, URL` value split (the label is optional in old files). */
function projectUrl(value: string): { label: string; url: string } {
  const comma = value.indexOf(",");
  return comma < 0 ? { label: "", url: value.trim() } : { label: value.slice(0, comma).trim(), url: value.slice(comma + 1).trim() };
}

/** PEP 753's label normalization: lowercase, without punctuation and spaces ("Source Code" is "sourcecode"). */
function urlLabel(label: string): string {
  return label.toLowerCase().replace(/[^a-z0-9]/g, "");
}
/** Which Project-URL stands for the project when there is no Home-page: the home page, else its docs or source, before donation or chat links that often come first. */
const HOMEPAGE_LABELS = ["homepage", "home"] as const;
const PROJECT_LABELS = ["documentation", "docs", "source", "sourcecode", "repository", "code"] as const;

function optional(value: string | undefined, limit: number): string | null {
  if (value === undefined || !present(value)) return null;
  const clean = cleanText(value, limit);
  return clean === "" ? null : clean;
}

export function parseDistributionMetadata(text: string): DistributionMetadata {
  const headers = metadataHeaders(text);
  const first = (name: string) => headers.find((header) => header.name === name)?.value;
  const all = (name: string) => headers.filter((header) => header.name === name).map((header) => header.value);

  const licenseClassifiers: string[] = [];
  for (const classifier of all("classifier")) {
    const match = /^License\s*::\s*(.+)$/s.exec(firstLine(classifier));
    const rest = match?.[1] ? cleanText(match[1], METADATA_LIMITS.classifier) : "";
    if (rest !== "" && !licenseClassifiers.includes(rest)) licenseClassifiers.push(rest);
    if (licenseClassifiers.length === METADATA_LIMITS.classifiers) break;
  }

  const projectUrls = all("project-url").map(projectUrl);
  const byLabel = (labels: readonly string[]) => projectUrls.filter((entry) => labels.includes(urlLabel(entry.label))).map((entry) => httpUrl(entry.url)).find((url) => url !== null);
  const homepage = httpUrl(firstLine(first("home-page") ?? "")) ?? byLabel(HOMEPAGE_LABELS) ?? byLabel(PROJECT_LABELS) ?? projectUrls.map((entry) => httpUrl(entry.url)).find((url) => url !== null) ?? null;

  return {
    licenseExpression: optional(firstLine(first("license-expression") ?? ""), METADATA_LIMITS.licenseExpression),
    // Some projects put the whole license text here: its first line names it, the rest is not a name.
    license: optional(firstLine(first("license") ?? ""), METADATA_LIMITS.license),
    licenseClassifiers,
    requiresPython: optional(first("requires-python"), METADATA_LIMITS.requiresPython),
    summary: optional(first("summary"), METADATA_LIMITS.summary),
    homepage,
  };
}
