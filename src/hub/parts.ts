/**
 * What the hub's server, indexer and reconcile use of the other parts, as
 * interfaces: the index (HubIndex, index-db.ts), the registry
 * (RegistryBrowser, registry/), the query parser and differ, and sbom/'s
 * readers and writers. hub.ts hands the real ones in; each is the part's own
 * documented signature, cut to what is used here.
 */
import type { Readable } from "node:stream";
import type { Descriptor } from "../image/index.js";
import type { DistributionMetadata, SbomInput } from "../sbom/index.js";
import type { IndexedTag, RepositoryHit, RepositoryPage, SearchQuery, SearchResults, TagDiff, TagSummary } from "./types.js";

export interface ManifestDocumentLike {
  bytes: Buffer;
  digest: string;
  json: unknown;
  /** The media type the document declares, else the response's Content-Type. */
  mediaType: string;
}

export interface RegistryPort {
  /** host[:port] as pypakr references name it. */
  readonly registry: string;
  repositories(): AsyncGenerator<string>;
  tags(repository: string): Promise<string[]>;
  manifest(repository: string, reference: string): Promise<ManifestDocumentLike>;
  openBlob(repository: string, descriptor: Descriptor): Promise<Readable>;
  readBlob(repository: string, descriptor: Descriptor, limit: number): Promise<Buffer>;
  deleteManifest(repository: string, digest: string): Promise<void>;
  acceptsAuthorization(header: string): Promise<boolean>;
  close(): Promise<void>;
}

export interface IndexPort {
  close(): void;
  putTag(tag: IndexedTag): void;
  removeTag(repository: string, tag: string): void;
  removeDigest(repository: string, digest: string): string[];
  removeRepository(repository: string): void;
  setDescription(repository: string, markdown: string, html: string): void;
  repositoryNames(): string[];
  tagDigests(repository: string): Map<string, string>;
  layerMetadata(layerDigest: string): DistributionMetadata | null | undefined;
  putLayerMetadata(layerDigest: string, metadata: DistributionMetadata | null): void;
  recent(limit: number): TagSummary[];
  repositories(limit: number, offset: number): RepositoryHit[];
  repository(name: string): RepositoryPage | null;
  tag(repository: string, tag: string): IndexedTag | null;
  search(query: SearchQuery, limit: number): SearchResults;
  counts(): { repositories: number; tags: number; distributions: number };
}

export interface HubParts {
  index: IndexPort;
  registry: RegistryPort;
  parseSearchQuery(q: string): SearchQuery;
  diffTags(from: IndexedTag, to: IndexedTag): TagDiff;
  /** `size`: the layer's compressed size, which bounds how far it may inflate. */
  readLayerMetadata(stream: Readable, mediaType: string, size?: number): Promise<DistributionMetadata | null>;
  cycloneDxDocument(input: SbomInput): object;
  pylockDocument(input: SbomInput): string;
}
