/**
 * The one grammar of image names, Docker's: an optional registry host
 * (lowercase, with an optional :port, or a bracketed IPv6 address) and "/",
 * then lowercase path components with separators, then an optional :tag; and
 * the digests, full or as a leading prefix, that name a stored image. The
 * store (local names) and the registry client (references) both read names
 * through this module, so the two can never accept different names.
 */
import { SHA256_DIGEST, type Digest } from "../util/hash.js";

const HOST = String.raw`(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[a-f0-9:]+\])`;
const PORT = String.raw`[0-9]{1,5}`;
const COMPONENT = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`;
const TAG = String.raw`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`;

const REGISTRY = new RegExp(`^${HOST}(?::(${PORT}))?$`);
const COMPONENT_ONLY = new RegExp(`^${COMPONENT}$`);
const TAG_ONLY = new RegExp(`^${TAG}$`);
/** The port's colon sits before the first "/", the tag's after the last one: `127.0.0.1:5000/app` has no tag, `127.0.0.1:5000/app:1` has tag 1. */
const NAME = new RegExp(`^(?:${HOST}(?::${PORT})?/)?${COMPONENT}(?:/${COMPONENT})*(?::${TAG})?$`);
/** Hex digits that may start a stored image's digest: 4 at the least, as few as are unique. */
const DIGEST_PREFIX = /^(?:sha256:)?([a-f0-9]{4,63})$/;
const DIGEST_OR_PREFIX = /^(?:sha256:)?[a-f0-9]{4,64}$/;
const BARE_DIGEST = /^[a-f0-9]{64}$/;

/** A local image name: [HOST[:PORT]/]NAME[:TAG]. */
export function isImageName(text: string): boolean {
  return NAME.test(text);
}

/** A registry's host[:port] (lowercase, the port at most 65535). */
export function isRegistryHost(text: string): boolean {
  const match = REGISTRY.exec(text);
  return match !== null && (match[1] === undefined || Number(match[1]) <= 65535);
}

/** A repository name by the distribution spec's grammar: lowercase components joined by "/". */
export function isRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && name.split("/").every((part) => COMPONENT_ONLY.test(part));
}

export function isTag(text: string): boolean {
  return TAG_ONLY.test(text);
}

export function isDigest(text: string): text is Digest {
  return SHA256_DIGEST.test(text);
}

/** The full digest `text` names, written `sha256:<64 hex>` or as the 64 hex digits alone; null when it names none. */
export function fullDigest(text: string): Digest | null {
  if (isDigest(text)) return text;
  return BARE_DIGEST.test(text) ? `sha256:${text}` : null;
}

/** The hex digits of a digest prefix (`sha256:` optional, 4 to 63 digits), or null when `text` is none. */
export function digestPrefix(text: string): string | null {
  return DIGEST_PREFIX.exec(text)?.[1] ?? null;
}

/** Whether `text` has a digest's form, full or a prefix (`sha256:` optional): it names an image by content, not by tag. */
export function looksLikeDigest(text: string): boolean {
  return DIGEST_OR_PREFIX.test(text);
}
