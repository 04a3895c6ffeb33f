/**
 * The indexer and reconcile against a registry that answers from memory
 * (its images real: zstd tar layers holding METADATA, configs pypakr's
 * format accepts) and the real index (":memory:"): a push event is read by
 * its digest, since 2.8 notifies before the tag points at the manifest; a
 * layer's METADATA is read once for every tag sharing it; one failing image
 * does not stop the rest; an index of platforms and a Docker manifest are
 * ordinary images; and reconcile drops only what the index held before its
 * walk, never a tag a notification indexed meanwhile.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { diffTags } from "../../../src/hub/diff.js";
import { HubIndex } from "../../../src/hub/index-db.js";
import { Indexer } from "../../../src/hub/indexer.js";
import type { HubParts } from "../../../src/hub/parts.js";
import { reconcile } from "../../../src/hub/reconcile.js";
import { parseSearchQuery } from "../../../src/hub/search-query.js";
import { cycloneDxDocument, pylockDocument, readLayerMetadata } from "../../../src/sbom/index.js";
import { sha256Digest } from "../../../src/util/hash.js";
import { MemoryRegistry, pypakrImage } from "../../support/hub-memory.js";

function setUp(concurrency = 4): { registry: MemoryRegistry; index: HubIndex; indexer: Indexer; parts: HubParts; log: string[] } {
  const registry = new MemoryRegistry();
  const index = HubIndex.open(":memory:");
  const parts: HubParts = { index, registry, parseSearchQuery, diffTags, readLayerMetadata, cycloneDxDocument, pylockDocument };
  const log: string[] = [];
  return { registry, index, indexer: new Indexer(parts, (line) => log.push(line), concurrency), parts, log };
}

test("a push event is read by its digest, not by the tag the registry has not moved yet", async () => {
  const { registry, index, indexer } = setUp();
  const old = pypakrImage([["flask", "3.0.0", "BSD-3-Clause"]]);
  const oldDigest = registry.put("team/app", "1", old.manifest, old.blobs);
  await indexer.indexTag("team/app", "1");
  // The new manifest is stored, the tag still names the old one (2.8 notifies between the two).
  const fresh = pypakrImage([["flask", "3.1.0", "BSD-3-Clause"]]);
  const freshDigest = registry.put("team/other", "x", fresh.manifest, fresh.blobs);
  assert.equal(registry.repos.get("team/app")?.get("1"), oldDigest);
  indexer.handle({ kind: "push", repository: "team/app", tag: "1", digest: freshDigest, mediaType: "application/vnd.oci.image.manifest.v1+json", pushedAt: "2026-11-30T20:00:00.000Z", pushedBy: "george" });
  await indexer.idle();
  const tag = index.tag("team/app", "1");
  assert.equal(tag?.digest, freshDigest);
  assert.equal(tag?.pushedAt, "2026-11-30T20:00:00.000Z");
  assert.equal(tag?.pushedBy, "george");
  assert.deepEqual(tag?.layers.flatMap((layer) => (layer.distribution ? [`${layer.distribution.name} ${layer.distribution.version} ${layer.distribution.metadata?.licenseExpression}`] : [])), ["flask 3.1.0 BSD-3-Clause"]);
  index.close();
});

test("a layer's METADATA is read once for every tag that shares it", async () => {
  const { registry, index, indexer } = setUp();
  const one = pypakrImage([["click", "8.1.7", "BSD-3-Clause"], ["flask", "3.0.0", "BSD-3-Clause"]]);
  const two = pypakrImage([["click", "8.1.7", "BSD-3-Clause"], ["flask", "3.1.0", "BSD-3-Clause"]]);
  registry.put("team/app", "1", one.manifest, one.blobs);
  registry.put("team/app", "2", two.manifest, two.blobs);
  await indexer.indexTag("team/app", "1");
  await indexer.indexTag("team/app", "2");
  const click = one.blobs[1] as Buffer;
  assert.equal(registry.opened.filter((digest) => digest === sha256Digest(click)).length, 1);
  assert.equal(registry.opened.length, 3, "click once, each flask once; never the app-files layers");
  index.close();
});

test("one failing image is logged and does not stop the others; a deleted tag is removed", async () => {
  const { registry, index, indexer, parts, log } = setUp();
  const image = pypakrImage([["six", "1.16.0", "MIT"]]);
  registry.put("team/a", "1", image.manifest, image.blobs);
  registry.put("team/b", "1", image.manifest, image.blobs);
  registry.broken.add("team/a:1");
  const result = await reconcile(parts, indexer, (line) => log.push(line));
  assert.equal(result.failures, 1);
  assert.equal(index.tag("team/a", "1"), null);
  assert.notEqual(index.tag("team/b", "1"), null);
  assert.match(log.join(""), /team\/a:1.*the registry failed/);
  indexer.handle({ kind: "delete-tag", repository: "team/b", tag: "1" });
  await indexer.idle();
  assert.equal(index.tag("team/b", "1"), null);
  index.close();
});

test("reconcile indexes what is new or moved, drops what is gone, and keeps what a notification indexed during its walk", async () => {
  const { registry, index, indexer, parts } = setUp();
  const image = pypakrImage([["six", "1.16.0", "MIT"]]);
  const moved = pypakrImage([["six", "1.17.0", "MIT"]]);
  registry.put("team/a", "1", image.manifest, image.blobs);
  registry.put("team/a", "2", image.manifest, image.blobs);
  registry.put("team/gone", "1", image.manifest, image.blobs);
  await reconcile(parts, indexer, () => {});
  assert.deepEqual([...index.tagDigests("team/a").keys()].sort(), ["1", "2"]);
  // Since: a:2 deleted, a:1 moved, gone/ removed from the catalog, new/ pushed.
  registry.repos.get("team/a")?.delete("2");
  const movedDigest = registry.put("team/a", "1", moved.manifest, moved.blobs);
  registry.repos.delete("team/gone");
  registry.put("team/new", "1", image.manifest, image.blobs);
  // A push the catalog walk cannot have seen: its notification is handled while the walk is under way.
  registry.afterEach = (repository) => {
    if (repository !== "team/new") return;
    const late = registry.put("team/late", "1", image.manifest, image.blobs);
    indexer.handle({ kind: "push", repository: "team/late", tag: "1", digest: late, mediaType: "application/vnd.oci.image.manifest.v1+json", pushedAt: null, pushedBy: null });
  };
  const result = await reconcile(parts, indexer, () => {});
  await indexer.idle();
  assert.equal(index.tag("team/a", "1")?.digest, movedDigest);
  assert.equal(index.tag("team/a", "2"), null);
  assert.equal(index.repository("team/gone"), null);
  assert.notEqual(index.tag("team/new", "1"), null);
  assert.notEqual(index.tag("team/late", "1"), null, "a tag indexed during the walk is kept");
  assert.deepEqual({ indexed: result.indexed, failures: result.failures }, { indexed: 2, failures: 0 });
  index.close();
});

test("an index of platforms and a Docker manifest are ordinary images", async () => {
  const { registry, index, indexer } = setUp();
  const layer = Buffer.from("a layer the hub never opens");
  const config = Buffer.from(JSON.stringify({ architecture: "arm64", os: "linux", config: { Env: ["A=1"], Cmd: ["sh"] }, rootfs: { type: "layers", diff_ids: [] } }));
  const docker = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json", config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: sha256Digest(config), size: config.length }, layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: sha256Digest(layer), size: layer.length }] }));
  const dockerDigest = registry.put("lib/busybox", "1", docker, [config, layer]);
  const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.list.v2+json", manifests: [{ mediaType: "application/vnd.docker.distribution.manifest.v2+json", digest: dockerDigest, size: docker.length, platform: { os: "linux", architecture: "arm64" } }, { mediaType: "application/vnd.docker.distribution.manifest.v2+json", digest: dockerDigest, size: docker.length, platform: { os: "linux", architecture: "amd64", variant: "v3" } }, { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: dockerDigest, size: docker.length, platform: { os: "unknown", architecture: "unknown" } }] }));
  registry.put("lib/busybox", "multi", list, []);
  await indexer.indexTag("lib/busybox", "1");
  await indexer.indexTag("lib/busybox", "multi");
  const single = index.tag("lib/busybox", "1");
  assert.deepEqual({ kind: single?.kind, platforms: single?.platforms, entrypoint: single?.entrypoint, environment: single?.environment, layers: single?.layers.length, size: single?.compressedSize }, { kind: "ordinary", platforms: ["linux/arm64"], entrypoint: ["sh"], environment: { A: "1" }, layers: 1, size: docker.length + config.length + layer.length });
  const multi = index.tag("lib/busybox", "multi");
  assert.deepEqual({ kind: multi?.kind, platforms: multi?.platforms, layers: multi?.layers.length }, { kind: "ordinary", platforms: ["linux/arm64", "linux/amd64/v3"], layers: 0 });
  assert.equal(registry.opened.length, 0, "no ordinary layer is opened");
  index.close();
});

test("a notification's job runs before the reconcile jobs already waiting", async () => {
  const { indexer, index } = setUp(1);
  const ran: string[] = [];
  const job = (name: string) => () => {
    ran.push(name);
    return new Promise<void>((resolve) => setImmediate(resolve));
  };
  const jobs = [1, 2, 3, 4].map((n) => indexer.enqueue(`r${n}`, `reconcile ${n}`, job(`reconcile ${n}`)));
  jobs.push(indexer.enqueue("event", "event", job("event"), true));
  await Promise.all(jobs);
  assert.deepEqual(ran, ["reconcile 1", "event", "reconcile 2", "reconcile 3", "reconcile 4"]);
  index.close();
});
