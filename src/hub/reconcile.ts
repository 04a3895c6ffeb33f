/**
 * The registry is the source of truth; notifications are its news, and news
 * gets lost (the registry queues them in memory only, a hub that was down
 * missed them). So at start and every few minutes the hub walks the catalog
 * and each repository's tag list: a tag it lacks, or whose manifest moved,
 * is indexed; one the registry no longer lists is dropped; a repository gone
 * from the catalog is dropped too (only after a complete walk: a catalog
 * read that failed half way drops nothing). One failing repository or image
 * is logged and never stops the rest.
 */
import { describe } from "../util/errors.js";
import type { Indexer } from "./indexer.js";
import type { HubParts } from "./parts.js";

export interface ReconcileResult {
  repositories: number;
  tags: number;
  /** Tags (re)indexed because they were new or had moved. */
  indexed: number;
  removed: number;
  failures: number;
  ms: number;
}

export async function reconcile(parts: HubParts, indexer: Indexer, log: (line: string) => void): Promise<ReconcileResult> {
  const began = performance.now();
  const { index, registry } = parts;
  const result: ReconcileResult = { repositories: 0, tags: 0, indexed: 0, removed: 0, failures: 0, ms: 0 };
  const seen = new Set<string>();
  // Only what the index held before the walk may be dropped for missing from it: notifications keep indexing
  // meanwhile, and a repository pushed after the catalog was read is not gone.
  const before = index.repositoryNames();
  let complete = true;
  const jobs: Promise<void>[] = [];
  try {
    for await (const repository of registry.repositories()) {
      seen.add(repository);
      result.repositories += 1;
      // Read before the tag list, for the same reason: a tag indexed after the list was read is not gone.
      const known = index.tagDigests(repository);
      let tags: string[];
      try {
        tags = await registry.tags(repository);
      } catch (error) {
        result.failures += 1;
        log(`pypakr hub: reconcile: cannot list the tags of ${repository}: ${describe(error)}\n`);
        continue;
      }
      result.tags += tags.length;
      const listed = new Set(tags);
      for (const [tag] of known) {
        if (listed.has(tag)) continue;
        index.removeTag(repository, tag);
        result.removed += 1;
      }
      for (const tag of tags) {
        jobs.push(
          indexer.enqueue(`${repository}:${tag}`, `reconcile ${repository}:${tag}`, async () => {
            try {
              const document = await registry.manifest(repository, tag);
              if (index.tagDigests(repository).get(tag) === document.digest) return;
              await indexer.indexTag(repository, tag, { document });
              result.indexed += 1;
            } catch (error) {
              result.failures += 1;
              throw error;
            }
          }),
        );
      }
      // Bounded memory: the catalog may be long, and the indexer runs only so many at once anyway.
      if (jobs.length >= 1000) await Promise.all(jobs.splice(0));
    }
  } catch (error) {
    complete = false;
    result.failures += 1;
    log(`pypakr hub: reconcile: cannot read the registry's catalog: ${describe(error)}\n`);
  }
  await Promise.all(jobs);
  if (complete) {
    for (const repository of before) {
      if (seen.has(repository)) continue;
      result.removed += index.tagDigests(repository).size;
      index.removeRepository(repository);
    }
  }
  result.ms = Math.round(performance.now() - began);
  return result;
}
