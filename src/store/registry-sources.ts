/**
 * Which repositories of which registries are known to hold a blob, so a push
 * can ask the registry to mount the blob from one of them instead of sending
 * it again (POST uploads?mount=&from=). Only a hint: a registry may have lost
 * the blob or refuse the mount, and the push then uploads. One small JSON
 * file, rewritten whole under the store's lock.
 *
 *   store/registry-sources.json  {"formatVersion":1,"registries":{"HOST":{"sha256:..":["repo",..]}}}
 */
import * as path from "node:path";
import * as z from "zod";
import { isErrno, PypakrError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { readJson } from "../util/json.js";
import type { Store } from "./store.js";

/** Newest first; older names fall off, a mount needs only one that still works. */
const MAX_REPOSITORIES_PER_BLOB = 8;

const sourcesSchema = z.object({
  formatVersion: z.literal(1),
  registries: z.record(z.string(), z.record(z.string(), z.array(z.string()))),
});
type Sources = z.infer<typeof sourcesSchema>;

function sourcesFile(store: Store): string {
  return path.join(store.dir, "registry-sources.json");
}

async function readSources(store: Store): Promise<Sources> {
  try {
    return await readJson(sourcesFile(store), sourcesSchema, { code: "store-damaged" });
  } catch (error) {
    if (!isErrno(error, "ENOENT") && !(error instanceof PypakrError && error.code === "store-damaged")) throw error;
  }
  // Missing or damaged: it is only a hint, so start afresh.
  return { formatVersion: 1, registries: {} };
}

/** Repositories of `registry` known to hold `blob`, newest first. */
export async function blobSources(store: Store, registry: string, blob: string): Promise<string[]> {
  return (await readSources(store)).registries[registry]?.[blob] ?? [];
}

/** Records that `repository` on `registry` holds each of `blobs`. */
export async function recordBlobSources(store: Store, registry: string, repository: string, blobs: Iterable<string>): Promise<void> {
  await store.withLock(async () => {
    const sources = await readSources(store);
    const known = (sources.registries[registry] ??= {});
    for (const blob of blobs) known[blob] = [repository, ...(known[blob] ?? []).filter((name) => name !== repository)].slice(0, MAX_REPOSITORIES_PER_BLOB);
    await writeFileAtomic(sourcesFile(store), JSON.stringify(sources) + "\n");
  });
}
