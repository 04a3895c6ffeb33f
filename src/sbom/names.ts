/** How distributions and images are named in SBOMs and lock files: PEP 503 names, package URLs (purl), PEP 440 versions. */
import { createHash } from "node:crypto";
import { isRegistryHost } from "../image/index.js";

/** PEP 503's normalized name, which lock files and searches use. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

/**
 * purl-spec's percent-encoding: everything but its unreserved characters
 * (letters, digits, `.-_~`) and, in a qualifier value, `/` and `:` which
 * the purl-spec examples leave as they are.
 */
function purlEncode(text: string, keep = ""): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const character = String.fromCharCode(byte);
    out += /[A-Za-z0-9.\-_~]/.test(character) || (byte < 0x80 && keep.includes(character)) ? character : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function qualifiers(entries: Record<string, string | undefined>): string {
  const pairs = Object.entries(entries)
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== "")
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => `${key}=${purlEncode(value, "/:")}`);
  return pairs.length > 0 ? `?${pairs.join("&")}` : "";
}

/** `pkg:pypi/NAME@VERSION`: the purl-spec's pypi name is lowercased with `_` as `-` (dots kept); `file_name` qualifies it when the file is known. */
export function pypiPurl(name: string, version: string, fileName?: string): string {
  return `pkg:pypi/${purlEncode(name.toLowerCase().replaceAll("_", "-"))}@${purlEncode(version)}${qualifiers({ file_name: fileName })}`;
}

/** An image reference split the way purl's oci type wants it (a local tag has no registry). */
export interface ImageName {
  /** HOST/REPO as written, or REPO for a local tag. */
  repository: string;
  /** The repository's last segment: purl's oci name. */
  name: string;
  tag: string | undefined;
  registry: string | undefined;
}

export function parseImageName(reference: string): ImageName {
  const withoutDigest = reference.split("@")[0] ?? reference;
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  const tag = colon > slash ? withoutDigest.slice(colon + 1) : undefined;
  const repository = colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
  const first = repository.split("/")[0] ?? "";
  const registry = repository.includes("/") && isRegistryHost(first) ? first : undefined;
  return { repository, name: (repository.split("/").pop() ?? repository).toLowerCase(), tag, registry };
}

/** `pkg:oci/NAME@sha256%3A...` with the repository (when it names a registry), the tag and the architecture as qualifiers. */
export function ociPurl(manifestDigest: string, architecture: string, reference: string | undefined): string {
  const image = reference ? parseImageName(reference) : undefined;
  const name = image?.name || "image";
  return `pkg:oci/${purlEncode(name)}@${purlEncode(manifestDigest)}${qualifiers({ arch: architecture, repository_url: image?.registry ? image.repository : undefined, tag: image?.tag })}`;
}

/** A version-4-shaped UUID that is a function of `seed`: the same image always gets the same serial number. */
export function uuidFrom(seed: string): string {
  const bytes = createHash("sha256").update(`pypakr-sbom:${seed}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** PEP 440's version grammar (packaging's VERSION_PATTERN), which lock-file readers parse every version with. */
const PEP440 =
  /^\s*v?(?:(?:[0-9]+)!)?(?:[0-9]+(?:\.[0-9]+)*)(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?:[0-9]+)?)?(?:(?:-(?:[0-9]+))|(?:[-_.]?(?:post|rev|r)[-_.]?(?:[0-9]+)?))?(?:[-_.]?(?:dev)[-_.]?(?:[0-9]+)?)?(?:\+(?:[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$/i;

export function isPep440Version(version: string): boolean {
  return PEP440.test(version);
}
