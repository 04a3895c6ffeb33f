/**
 * Registry references: `HOST[:PORT]/REPO[:TAG|@sha256:...]`, as Docker
 * spells them. pypakr has no default registry (no Docker Hub), so the host
 * is always written out; a first component is a host when it holds a "." or
 * a ":" or is "localhost", Docker's own rule.
 */
import { usageError } from "../util/errors.js";
import { isDigest, isRegistryHost, isRepositoryName, isTag } from "../image/index.js";
import type { Digest } from "../util/hash.js";

export interface Reference {
  /** host[:port] as written, lowercased: the key for credentials and blob sources. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** Docker's test for "the first component names a registry". */
export function looksLikeRegistryReference(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash <= 0) return false;
  const first = text.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost";
}

export function registryHost(text: string): string {
  const host = text.replace(/^https?:\/\//, "").replace(/\/+$/, "").toLowerCase();
  if (!isRegistryHost(host) || !isUrlHost(host)) {
    throw usageError("bad-reference", `"${text}" is not a registry address`, "Give HOST or HOST:PORT, e.g. registry.example.com or 127.0.0.1:5000");
  }
  return host;
}

/** Whether a URL can be made for the host: `[:::::]` or `127.999.1.1` pass the grammar, but no URL (and no connection) can name them. */
function isUrlHost(host: string): boolean {
  try {
    new URL(`http://${host}/`);
    return true;
  } catch {
    return false;
  }
}

/** Parses a full registry reference; `TAG` defaults to latest unless a digest is given. */
export function parseReference(text: string): Reference {
  const hint = "Write HOST[:PORT]/REPO[:TAG] or HOST[:PORT]/REPO@sha256:<64 hex>, e.g. 127.0.0.1:5000/myapp:1.0";
  if (!looksLikeRegistryReference(text)) throw usageError("bad-reference", `"${text}" does not name a registry (its first part must be a host, e.g. registry.example.com/ or localhost:5000/)`, hint);
  const slash = text.indexOf("/");
  const registry = registryHost(text.slice(0, slash));
  let rest = text.slice(slash + 1);
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const value = rest.slice(at + 1);
    if (!isDigest(value)) throw usageError("bad-reference", `"${text}" has a malformed digest`, hint);
    digest = value;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) throw usageError("bad-reference", `"${text}" has a malformed tag "${tag}"`, hint);
  }
  if (!isRepositoryName(rest)) {
    throw usageError("bad-reference", `"${text}" has a malformed repository name "${rest}" (lowercase letters, digits and . _ - separators)`, hint);
  }
  if (!digest && !tag) tag = "latest";
  return { registry, repository: rest, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** HOST/REPO:TAG, HOST/REPO@DIGEST (or both), as a user would write it back. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The local tag a pulled tag is stored under: the full reference, so it never clashes with a local name. */
export function localTag(ref: Reference): string | undefined {
  return ref.tag ? `${ref.registry}/${ref.repository}:${ref.tag}` : undefined;
}

/** Loopback registries get plain HTTP by default, as Docker treats them as insecure registries. */
export function isLoopback(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(0, registry.indexOf("]") + 1) : registry.replace(/:[0-9]+$/, "");
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return host === "localhost" || host === "[::1]" || (octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255));
}

/** The names Docker Hub is written as; its API is at registry-1.docker.io, and Docker keeps its login as https://index.docker.io/v1/. */
const DOCKER_HUB_NAMES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
export const DOCKER_HUB_LOGIN_KEY = "https://index.docker.io/v1/";

export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_NAMES.has(registry.toLowerCase());
}

/** Where a registry's API answers: Docker Hub's names lead to its API host; any other registry is its own. */
export function apiHost(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_API_HOST : registry;
}
