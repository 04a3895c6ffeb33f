/**
 * The contract between the hub's parts: what the index keeps of each tag
 * (computed once, when the tag is indexed, so a page is a few indexed reads),
 * and what the pages and the JSON API are made from. Every string here came
 * from an image, a registry or a user: the index stores it as data and the
 * pages escape it.
 */
import type { DistributionOrigin } from "../image/index.js";
import type { DistributionMetadata } from "../sbom/index.js";

export type ImageKind = "pypakr" | "ordinary";

/** One layer of a tag as the tag page lists it. */
export interface IndexedLayer {
  digest: string;
  mediaType: string;
  /** Compressed size, from the manifest. */
  size: number;
  /** The distribution this layer holds; absent for the app-files layer and for every layer of an ordinary image. */
  distribution?: IndexedDistribution;
}

export interface IndexedDistribution {
  name: string;
  version: string;
  wheelTags: string[];
  origin?: DistributionOrigin;
  /** null when the layer held no readable METADATA. */
  metadata: DistributionMetadata | null;
}

/** Everything the hub shows of one tag. */
export interface IndexedTag {
  repository: string;
  tag: string;
  /** The manifest's (or index's) digest and media type. */
  digest: string;
  mediaType: string;
  /** UTC ISO time: the push event's timestamp, else when a reconcile first found the tag. */
  pushedAt: string;
  /** Who pushed it, when the registry said (its auth's user name). */
  pushedBy: string | null;
  /** Manifest + config + layers, compressed, as a registry stores them. */
  compressedSize: number;
  kind: ImageKind;
  /** "linux/amd64"-style platforms: one for a manifest, each of an index's. */
  platforms: string[];
  /** The config's `created`, when it has one. */
  created: string | null;
  /** pypakr images only (null otherwise). */
  python: { implementation: string; version: string; soabi: string; kind: string } | null;
  entrypoint: string[];
  environment: Record<string, string>;
  /** In manifest order: a pypakr image's distribution layers, then its app-files layer. Empty for an index. */
  layers: IndexedLayer[];
}

/** A row of the recent-pushes and tag lists. */
export interface TagSummary {
  repository: string;
  tag: string;
  digest: string;
  pushedAt: string;
  pushedBy: string | null;
  compressedSize: number;
  kind: ImageKind;
  /** pypakr images: "cpython 3.11.7"; ordinary: null. */
  python: string | null;
  distributionCount: number;
}

export interface RepositoryPage {
  name: string;
  /** The Markdown as the admin wrote it, and its sanitized HTML (rendered on save). */
  description: string;
  descriptionHtml: string;
  /** Newest push first. */
  tags: TagSummary[];
}

/** One search hit on a repository's name or description. */
export interface RepositoryHit {
  name: string;
  /** A short plain-text excerpt of the description (never HTML). */
  excerpt: string;
  tagCount: number;
  lastPushedAt: string | null;
}

/** One search hit on a distribution: which tag holds which version. */
export interface DistributionHit {
  repository: string;
  tag: string;
  pushedAt: string;
  name: string;
  version: string;
}

/** A parsed search query: free text, and optionally a distribution with a PEP 440 specifier ("flask 3.1" is flask ==3.1.*). */
export interface SearchQuery {
  text: string;
  distribution?: { name: string; specifier: string | null };
}

export interface SearchResults {
  query: string;
  repositories: RepositoryHit[];
  distributions: DistributionHit[];
}

/** Two tags of a repository compared by distribution (PEP 503 names). */
export interface TagDiff {
  repository: string;
  from: string;
  to: string;
  added: { name: string; version: string }[];
  removed: { name: string; version: string }[];
  changed: { name: string; from: string; to: string; direction: "upgraded" | "downgraded" | "changed" }[];
  unchanged: { name: string; version: string }[];
}
