/**
 * Ordinary images (a runtime, an exported image) to and from a real registry
 * (Debian's docker-registry on 127.0.0.1): pushOrdinaryImage, then
 * fetchOrdinaryImage by tag, by digest, and through a Docker manifest list or
 * an OCI index by platform; and a registry that sends wrong bytes (the
 * in-process FakeRegistry) leaves nothing in the cache but verified blobs.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { fetchOrdinaryImage, pushOrdinaryImage } from "../../src/registry/index.js";
import { makeTempDir, removeDir } from "../support/helpers.js";
import { DOCKER_LIST, OCI_INDEX, ordinaryImage, type OrdinaryTestImage, platformIndex, refusedWith } from "../support/ordinary.js";
import { digestOf, FakeRegistry, startRegistry, type Registry } from "../support/registry.js";

const FAST = { retry: { baseDelayMs: 1, maxDelayMs: 5 } };
const AMD64 = { os: "linux", architecture: "amd64" };
const ARM64 = { os: "linux", architecture: "arm64", variant: "v8" };

/** What a cache dir holds: every file of blobs/sha256 hashed against its name, and whatever else is there. */
async function cacheContents(cacheDir: string): Promise<{ verified: string[]; unverified: string[]; partial: string[] }> {
  const blobsDir = path.join(cacheDir, "blobs", "sha256");
  const verified: string[] = [];
  const unverified: string[] = [];
  for (const name of await fs.readdir(blobsDir).catch(() => [] as string[])) {
    (digestOf(await fs.readFile(path.join(blobsDir, name))) === `sha256:${name}` ? verified : unverified).push(name);
  }
  const partial = await fs.readdir(path.join(cacheDir, "partial")).catch(() => [] as string[]);
  return { verified, unverified, partial };
}

describe("ordinary images and a real registry", () => {
  let work: string;
  let registry: Registry;
  let amd: OrdinaryTestImage;
  let arm: OrdinaryTestImage;
  let cacheCount = 0;
  const freshCache = () => path.join(work, `cache-${++cacheCount}`);

  before(async () => {
    work = await makeTempDir("pypakr-ordinary-");
    registry = await startRegistry();
    const blobs = path.join(work, "blobs");
    await fs.mkdir(blobs);
    amd = await ordinaryImage(blobs, { platform: AMD64, docker: true });
    arm = await ordinaryImage(blobs, { platform: ARM64, docker: true, layerCount: 1 });
  });
  after(async () => {
    await registry.stop();
    await removeDir(work);
  });

  test("pushOrdinaryImage sends an image, and fetchOrdinaryImage gets it back by tag and by digest (a second fetch into the same cache downloads no layer)", async () => {
    const image = await ordinaryImage(path.join(work, "blobs"), { platform: AMD64 });
    const pushed = await pushOrdinaryImage(`${registry.host}/runtimes/python:3.11`, image, FAST);
    assert.deepEqual(pushed, { digest: image.manifestDigest, reference: `${registry.host}/runtimes/python:3.11` });
    const stored = await registry.blobDigests();
    for (const blob of image.blobs) assert.ok(stored.includes(blob.digest), `registry lacks ${blob.digest}`);
    // Blobs already there are not sent again: the registry's storage gains only the new tag's link.
    const before = await registry.blobCount();
    assert.equal((await pushOrdinaryImage(`${registry.host}/runtimes/python:again`, image, FAST)).digest, image.manifestDigest);
    assert.equal(await registry.blobCount(), before);

    const cacheDir = freshCache();
    const byTag = await fetchOrdinaryImage(`${registry.host}/runtimes/python:3.11`, cacheDir, { ...FAST, platform: AMD64 });
    assert.equal(byTag.manifestDigest, image.manifestDigest);
    assert.equal(byTag.source, `${registry.host}/runtimes/python:3.11`);
    assert.deepEqual(byTag.configBytes, image.configBytes);
    assert.deepEqual(byTag.config.config?.Cmd, ["/usr/bin/python3"]);
    for (const [i, layer] of byTag.manifest.layers.entries()) {
      assert.equal(byTag.blobFile(layer.digest), path.join(cacheDir, "blobs", "sha256", layer.digest.slice(7)));
      assert.deepEqual(await fs.readFile(byTag.blobFile(layer.digest)), image.layers[i]);
    }
    const layerFile = byTag.blobFile(image.blobs[1]?.digest ?? "");
    const inode = (await fs.stat(layerFile)).ino;

    // A second fetch into the same cache does not download the layers again (the same files stay).
    const byDigest = await fetchOrdinaryImage(`${registry.host}/runtimes/python@${image.manifestDigest}`, cacheDir, { ...FAST, platform: AMD64 });
    assert.equal(byDigest.manifestDigest, image.manifestDigest);
    assert.equal((await fs.stat(layerFile)).ino, inode, "the cached layer was fetched again");
    const contents = await cacheContents(cacheDir);
    assert.deepEqual(contents.unverified, []);
    assert.deepEqual(contents.verified.sort(), [image.manifestDigest, ...image.blobs.map((blob) => blob.digest)].map((digest) => digest.slice(7)).sort());
  });

  test("a Docker manifest list and an OCI index with two platforms: the entry for the platform asked for is fetched", async () => {
    await pushOrdinaryImage(`${registry.host}/runtimes/multi:amd64`, amd, FAST);
    await pushOrdinaryImage(`${registry.host}/runtimes/multi:arm64`, arm, FAST);
    const list = platformIndex([{ image: amd, platform: AMD64 }, { image: arm, platform: ARM64 }], true);
    await pushOrdinaryImage(`${registry.host}/runtimes/multi:list`, { manifestBytes: list, manifestMediaType: DOCKER_LIST, blobs: [] }, FAST);
    const index = platformIndex([{ image: arm, platform: ARM64 }, { image: amd, platform: AMD64 }]);
    await pushOrdinaryImage(`${registry.host}/runtimes/multi:index`, { manifestBytes: index, manifestMediaType: OCI_INDEX, blobs: [] }, FAST);

    const cacheDir = freshCache();
    const armFromList = await fetchOrdinaryImage(`${registry.host}/runtimes/multi:list`, cacheDir, { ...FAST, platform: { os: "linux", architecture: "arm64" } });
    assert.equal(armFromList.manifestDigest, arm.manifestDigest);
    assert.equal(armFromList.config.architecture, "arm64");
    assert.equal(armFromList.manifest.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    const amdFromIndex = await fetchOrdinaryImage(`${registry.host}/runtimes/multi:index`, cacheDir, { ...FAST, platform: AMD64 });
    assert.equal(amdFromIndex.manifestDigest, amd.manifestDigest);
    assert.equal(amdFromIndex.config.architecture, "amd64");
    // Only the chosen images' blobs came: none of the index's own.
    assert.ok(!(await fs.readdir(path.join(cacheDir, "blobs", "sha256"))).includes(digestOf(list).slice(7)));
  });

  test("a platform the index lacks, or an image for another platform, is refused with the platforms there are", async () => {
    await pushOrdinaryImage(`${registry.host}/runtimes/two:amd64`, amd, FAST);
    await pushOrdinaryImage(`${registry.host}/runtimes/two:arm64`, arm, FAST);
    const list = platformIndex([{ image: amd, platform: AMD64 }, { image: arm, platform: ARM64 }], true);
    await pushOrdinaryImage(`${registry.host}/runtimes/two:list`, { manifestBytes: list, manifestMediaType: DOCKER_LIST, blobs: [] }, FAST);
    const cacheDir = freshCache();
    await assert.rejects(
      fetchOrdinaryImage(`${registry.host}/runtimes/two:list`, cacheDir, { ...FAST, platform: { os: "linux", architecture: "s390x" } }),
      refusedWith("platform-mismatch", /has no image for linux\/s390x: it has linux\/amd64, linux\/arm64\/v8/),
    );
    // A single image whose config names another platform: refused before a layer travels.
    await assert.rejects(
      fetchOrdinaryImage(`${registry.host}/runtimes/two:arm64`, cacheDir, { ...FAST, platform: AMD64 }),
      refusedWith("platform-mismatch", /has no image for linux\/amd64: it has linux\/arm64\/v8/),
    );
    const contents = await cacheContents(cacheDir);
    assert.ok(!contents.verified.includes(arm.blobs[1]?.digest.slice(7) ?? ""), "a layer of the refused image was fetched");
  });

  describe("against the in-process FakeRegistry, which logs every request and misbehaves on demand", () => {
    let fake: FakeRegistry;
    before(async () => {
      fake = new FakeRegistry();
      await fake.start();
    });
    after(async () => {
      await fake.stop();
    });

    test("a second push of the same image sends no blob: HEAD finds each, then the manifest goes up", async () => {
      const image = await ordinaryImage(path.join(work, "blobs"), { platform: AMD64 });
      await pushOrdinaryImage(`${fake.host}/app/exported:1`, image, FAST);
      fake.log.length = 0;
      const again = await pushOrdinaryImage(`${fake.host}/app/exported:2`, image, FAST);
      assert.equal(again.digest, image.manifestDigest);
      const sent = fake.log.map((entry) => `${entry.method} ${entry.path}`).sort();
      assert.deepEqual(sent, [...image.blobs.map((blob) => `HEAD /v2/app/exported/blobs/${blob.digest}`), "PUT /v2/app/exported/manifests/2"].sort());
      assert.deepEqual(fake.manifests.get("app/exported:2"), image.manifestBytes);
    });

    test("a registry that sends wrong bytes for a layer or a manifest is refused, and the cache keeps only verified blobs", async () => {
      const image = await ordinaryImage(path.join(work, "blobs"), { platform: AMD64, layerCount: 3 });
      await pushOrdinaryImage(`${fake.host}/evil/python:1`, image, FAST);
      const badLayer = image.blobs[2]?.digest ?? "";
      fake.hook = (req, res, url) => {
        if (req.method !== "GET" || !url.pathname.endsWith(`/blobs/${badLayer}`)) return false;
        const bytes = Buffer.from(image.layers[1] ?? Buffer.alloc(0));
        bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
        res.writeHead(200, { "content-length": bytes.length }).end(bytes);
        return true;
      };
      try {
        const cacheDir = freshCache();
        await assert.rejects(fetchOrdinaryImage(`${fake.host}/evil/python:1`, cacheDir, { ...FAST, platform: AMD64, concurrency: 1 }), refusedWith("registry-bad-data", new RegExp(`wrong bytes for blob ${badLayer}`)));
        const contents = await cacheContents(cacheDir);
        assert.deepEqual(contents.unverified, []);
        assert.ok(!contents.verified.includes(badLayer.slice(7)));
        assert.deepEqual(contents.partial.filter((name) => !name.endsWith(".lock")), [], "a wrong download stayed in partial/");

        // A manifest asked for by digest whose bytes are not that digest's.
        fake.hook = (req, res, url) => {
          if (!url.pathname.includes("/manifests/")) return false;
          const bytes = Buffer.from(image.manifestBytes.toString("utf8").replace('"schemaVersion":2', '"schemaVersion": 2'));
          res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(bytes);
          return true;
        };
        await assert.rejects(fetchOrdinaryImage(`${fake.host}/evil/python@${image.manifestDigest}`, freshCache(), { ...FAST, platform: AMD64 }), refusedWith("registry-bad-data", /does not match its digest/));
      } finally {
        fake.hook = undefined;
      }
    });
  });
});
