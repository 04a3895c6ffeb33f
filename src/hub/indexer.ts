/**
 * From the registry to the index: an event or a reconcile names a tag, the
 * indexer reads its manifest, config and each distribution layer's METADATA
 * (once per layer digest: layers are shared between images, and the index
 * caches what it read) and stores what the pages show as one IndexedTag.
 * Work is queued: jobs for the same tag run in order, at most `concurrency`
 * at once, and a failing one is logged and never stops the others.
 * A manifest that is not pypakr's (another config, a Docker manifest, an
 * index of platforms) is indexed as an ordinary image.
 */
import * as z from "zod";
import { type Descriptor, imageConfigSchema, isIndexMediaType, manifestSchema, MAX_CONFIG_BYTES } from "../image/index.js";
import { describe, PypakrError } from "../util/errors.js";
import type { HubEvent } from "./events.js";
import type { HubParts, ManifestDocumentLike } from "./parts.js";
import { cleanText } from "./text.js";
import type { IndexedDistribution, IndexedLayer, IndexedTag } from "./types.js";

export interface TagHint {
  /** The digest the event named: the manifest is read by it. */
  digest?: string;
  pushedAt?: string | null;
  pushedBy?: string | null;
  /** The manifest, when the caller fetched it already. */
  document?: ManifestDocumentLike;
}

/** METADATA reads at once for one tag's layers. */
const LAYER_READS = 4;
/** Platforms of an index whose manifests are read to add up its size. */
const MAX_INDEX_CHILDREN = 16;

const descriptor = z.object({ mediaType: z.string().max(255), digest: z.string().regex(/^sha256:[a-f0-9]{64}$/), size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) });
/** Any image manifest, OCI or Docker, read as far as the hub shows it. */
const anyManifestSchema = z.object({ schemaVersion: z.literal(2), config: descriptor, layers: z.array(descriptor).max(10_000) });
const anyIndexSchema = z.object({
  schemaVersion: z.literal(2),
  manifests: z
    .array(descriptor.extend({ platform: z.object({ os: z.string().max(64), architecture: z.string().max(64), variant: z.string().max(64).optional() }).optional() }))
    .max(1024),
});
const shortStrings = z.array(z.string().max(64 * 1024)).max(4096);
/** An ordinary image's config, as far as the hub shows it (free text: cleaned and capped when read). */
const anyConfigSchema = z.object({
  created: z.string().max(64).optional(),
  architecture: z.string().max(64).optional(),
  os: z.string().max(64).optional(),
  variant: z.string().max(64).optional(),
  config: z.object({ Env: shortStrings.nullish(), Entrypoint: shortStrings.nullish(), Cmd: shortStrings.nullish() }).nullish(),
});

export class Indexer {
  private readonly chains = new Map<string, Promise<void>>();
  private running = 0;
  /** Jobs waiting for a slot: a notification's first, so a push is searchable at once even while a reconcile walks a large registry. */
  private readonly urgent: (() => void)[] = [];
  private readonly waiting: (() => void)[] = [];
  /** Failed jobs since start (the health page shows it). */
  failures = 0;

  constructor(
    private readonly parts: HubParts,
    private readonly log: (line: string) => void,
    private readonly concurrency = 4,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Acts on a notification: queued, so the /events answer never waits for the registry. */
  handle(event: HubEvent): void {
    const { index } = this.parts;
    if (event.kind === "push") {
      void this.enqueue(`${event.repository}:${event.tag}`, `index ${event.repository}:${event.tag}`, async () => {
        // A repeated event (the registry retries) or a push of what the tag already is: nothing new to read.
        if (index.tagDigests(event.repository).get(event.tag) === event.digest) return;
        await this.indexTag(event.repository, event.tag, { digest: event.digest, pushedAt: event.pushedAt, pushedBy: event.pushedBy });
      }, true);
    } else if (event.kind === "delete-tag") {
      void this.enqueue(`${event.repository}:${event.tag}`, `remove ${event.repository}:${event.tag}`, () => {
        index.removeTag(event.repository, event.tag);
        return Promise.resolve();
      }, true);
    } else {
      void this.enqueue(`${event.repository}@${event.digest}`, `remove ${event.repository}@${event.digest}`, () => {
        index.removeDigest(event.repository, event.digest);
        return Promise.resolve();
      }, true);
    }
  }

  /**
   * Queues `job` behind the jobs of the same key and within the concurrency
   * (notifications' jobs ahead of reconcile's); resolves when it ran (a
   * failure is logged, not thrown).
   */
  enqueue(key: string, what: string, job: () => Promise<void>, urgent = false): Promise<void> {
    const before = this.chains.get(key) ?? Promise.resolve();
    const mine = before.then(async () => {
      await this.slot(urgent);
      try {
        await job();
      } catch (error) {
        this.failures += 1;
        this.log(`pypakr hub: cannot ${what}: ${describe(error)}\n`);
      } finally {
        this.release();
      }
    });
    this.chains.set(key, mine);
    void mine.then(() => {
      if (this.chains.get(key) === mine) this.chains.delete(key);
    });
    return mine;
  }

  /** Resolves once every job queued so far has run. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /** Jobs queued or running. */
  pending(): number {
    return this.chains.size;
  }

  private slot(urgent: boolean): Promise<void> {
    if (this.running < this.concurrency) {
      this.running += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => (urgent ? this.urgent : this.waiting).push(resolve));
  }

  private release(): void {
    const next = this.urgent.shift() ?? this.waiting.shift();
    if (next) next();
    else this.running -= 1;
  }

  /** Reads the tag from the registry and stores it (a tag the registry no longer has is removed). */
  async indexTag(repository: string, tag: string, hint: TagHint = {}): Promise<void> {
    const { index, registry } = this.parts;
    let document: ManifestDocumentLike;
    try {
      // By the event's digest when there is one: the registry (2.8) notifies a push before it points the tag at the
      // manifest, so a read by tag at that moment finds nothing, or the tag's previous manifest.
      document = hint.document ?? (await registry.manifest(repository, hint.digest ?? tag));
    } catch (error) {
      // Deleted (or moved away) before its event was handled: the registry's word wins.
      if (error instanceof PypakrError && error.code === "registry-not-found") return index.removeTag(repository, tag);
      throw error;
    }
    const known = index.tag(repository, tag);
    const pushedAt = hint.pushedAt ? hint.pushedAt : known !== null && known.digest === document.digest ? known.pushedAt : this.now().toISOString();
    const pushedBy = hint.pushedBy ?? (known !== null && known.digest === document.digest ? known.pushedBy : null);
    index.putTag(await this.describeTag(repository, tag, document, pushedAt, pushedBy));
  }

  async describeTag(repository: string, tag: string, document: ManifestDocumentLike, pushedAt: string, pushedBy: string | null): Promise<IndexedTag> {
    const base = { repository, tag, digest: document.digest, mediaType: cleanText(document.mediaType, 255), pushedAt, pushedBy };
    if (isIndexMediaType(document.mediaType)) return this.describeIndex(repository, document, base);
    const manifest = anyManifestSchema.safeParse(document.json);
    if (!manifest.success) throw new Error(`its manifest ${document.digest} is neither an image manifest nor an index`);
    const compressedSize = document.bytes.length + manifest.data.config.size + manifest.data.layers.reduce((sum, layer) => sum + layer.size, 0);
    const config = await this.readConfig(repository, manifest.data.config);
    const pypakr = manifestSchema.safeParse(document.json).success && config !== null ? imageConfigSchema.safeParse(config) : null;
    if (pypakr?.success) {
      const image = pypakr.data;
      const distributions = new Map(image.pypakr.distributions.map((distribution) => [distribution.layer, distribution]));
      const layers = await mapLimited(manifest.data.layers, LAYER_READS, async (layer): Promise<IndexedLayer> => {
        const distribution = distributions.get(layer.digest);
        if (distribution === undefined) return { digest: layer.digest, mediaType: layer.mediaType, size: layer.size };
        const indexed: IndexedDistribution = { name: distribution.name, version: distribution.version, wheelTags: distribution.wheelTags, metadata: await this.layerMetadata(repository, layer) };
        if (distribution.origin) indexed.origin = distribution.origin;
        return { digest: layer.digest, mediaType: layer.mediaType, size: layer.size, distribution: indexed };
      });
      const { python } = image.pypakr;
      return {
        ...base,
        compressedSize,
        kind: "pypakr",
        platforms: [`${image.os}/${image.architecture}`],
        created: image.pypakr.created,
        python: { implementation: python.implementation, version: python.version, soabi: python.soabi, kind: `${python.implementation}-${python.version.split(".").slice(0, 2).join(".")}${python.abiFlags}-${python.os}-${python.machine}` },
        entrypoint: image.pypakr.entrypoint,
        environment: image.pypakr.environment,
        layers,
      };
    }
    const ordinary = config === null ? null : anyConfigSchema.safeParse(config);
    const seen = ordinary?.success ? ordinary.data : null;
    const platform = seen?.os && seen.architecture ? [cleanText([seen.os, seen.architecture, seen.variant].filter(Boolean).join("/"), 100)] : [];
    return {
      ...base,
      compressedSize,
      kind: "ordinary",
      platforms: platform,
      created: seen?.created && !Number.isNaN(Date.parse(seen.created)) ? new Date(seen.created).toISOString() : null,
      python: null,
      entrypoint: [...(seen?.config?.Entrypoint ?? []), ...(seen?.config?.Cmd ?? [])].slice(0, 256).map((word) => cleanText(word, 4096)),
      environment: environmentOf(seen?.config?.Env ?? []),
      layers: manifest.data.layers.map((layer) => ({ digest: layer.digest, mediaType: cleanText(layer.mediaType, 255), size: layer.size })),
    };
  }

  private async describeIndex(repository: string, document: ManifestDocumentLike, base: Pick<IndexedTag, "repository" | "tag" | "digest" | "mediaType" | "pushedAt" | "pushedBy">): Promise<IndexedTag> {
    const parsed = anyIndexSchema.safeParse(document.json);
    const entries = parsed.success ? parsed.data.manifests : [];
    // Attestations (buildx) are listed as platform unknown/unknown: not a platform anyone runs.
    const platforms = [...new Set(entries.flatMap((entry) => (entry.platform && entry.platform.os !== "unknown" ? [cleanText([entry.platform.os, entry.platform.architecture, entry.platform.variant].filter(Boolean).join("/"), 100)] : [])))];
    let compressedSize = document.bytes.length;
    for (const entry of entries.slice(0, MAX_INDEX_CHILDREN)) {
      compressedSize += entry.size;
      try {
        const child = anyManifestSchema.safeParse((await this.parts.registry.manifest(repository, entry.digest)).json);
        if (child.success) compressedSize += child.data.config.size + child.data.layers.reduce((sum, layer) => sum + layer.size, 0);
      } catch {
        // A platform's manifest missing: its size is not counted.
      }
    }
    return { ...base, compressedSize, kind: "ordinary", platforms, created: null, python: null, entrypoint: [], environment: {}, layers: [] };
  }

  private async readConfig(repository: string, config: Descriptor): Promise<unknown> {
    if (config.size > MAX_CONFIG_BYTES) return null;
    const bytes = await this.parts.registry.readBlob(repository, config, MAX_CONFIG_BYTES);
    try {
      return JSON.parse(bytes.toString("utf8")) as unknown;
    } catch {
      return null;
    }
  }

  private async layerMetadata(repository: string, layer: Descriptor): Promise<IndexedDistribution["metadata"]> {
    const { index, registry } = this.parts;
    const cached = index.layerMetadata(layer.digest);
    if (cached !== undefined) return cached;
    try {
      const metadata = await this.parts.readLayerMetadata(await registry.openBlob(repository, layer), layer.mediaType, layer.size);
      index.putLayerMetadata(layer.digest, metadata);
      return metadata;
    } catch (error) {
      // Not cached: a layer that failed its digest check or broke off is read again next time.
      this.log(`pypakr hub: cannot read the metadata of layer ${layer.digest} of ${repository}: ${describe(error)}\n`);
      return null;
    }
  }
}

function environmentOf(lines: string[]): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const line of lines.slice(0, 1024)) {
    const equals = line.indexOf("=");
    if (equals <= 0) continue;
    environment[cleanText(line.slice(0, equals), 256)] = cleanText(line.slice(equals + 1), 4096);
  }
  return environment;
}

async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
