/**
 * Garbage collection (src/store/gc.ts) on a store made in a temp dir: what a
 * tag, a registered container or a live process's lease needs is kept
 * (manifest, config, layers, unpacked layers); everything else is freed,
 * with what dead processes left in the store's and pypakr's tmp dirs and
 * partial downloads no pull is fetching.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { containerRecordFile } from "../../../src/layout/index.js";
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST } from "../../../src/image/media-types.js";
import { collectGarbage } from "../../../src/store/gc.js";
import { acquireLock } from "../../../src/store/lock.js";
import { emptyIndex, Store, type StoreIndex } from "../../../src/store/store.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

let root = "";
let stores = 0;
before(async () => {
  root = await makeTempDir();
});
after(() => removeDir(root));

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync("true");
  assert.ok(child.pid);
  return child.pid;
}

const digestOf = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const hex = (digest: string) => digest.slice("sha256:".length);

async function freshStore(): Promise<Store> {
  stores += 1;
  const dir = path.join(root, `home-${stores}`);
  const store = new Store(path.join(dir, "store"), path.join(dir, "tmp"));
  for (const made of [store.blobsDir, store.tmpDir, store.layersDir, store.partialDir, store.pypakrTmpDir]) await fs.mkdir(made, { recursive: true });
  return store;
}

async function putBlob(store: Store, bytes: Buffer): Promise<string> {
  const digest = digestOf(bytes);
  await fs.writeFile(store.blobFile(digest), bytes);
  return digest;
}

interface Image {
  manifest: string;
  config: string;
  layers: string[];
}

/** An image in the store: its layer blobs (`layers`: their contents), each with an unpacked copy, a config and a manifest. */
async function putImage(store: Store, name: string, layers: string[]): Promise<Image> {
  const layerDigests = [];
  for (const body of layers) {
    const digest = await putBlob(store, Buffer.from(body));
    await fs.mkdir(path.join(store.layersDir, hex(digest)), { recursive: true });
    await fs.writeFile(path.join(store.layersDir, hex(digest), "file"), body);
    layerDigests.push(digest);
  }
  const configBytes = Buffer.from(JSON.stringify({ name }));
  const config = await putBlob(store, configBytes);
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_MANIFEST,
      config: { mediaType: MEDIA_TYPE_CONFIG, digest: config, size: configBytes.length },
      layers: layerDigests.map((digest, index) => ({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: Buffer.byteLength(layers[index] ?? "") })),
    }),
  );
  return { manifest: await putBlob(store, manifestBytes), config, layers: layerDigests };
}

async function writeIndex(store: Store, change: (index: StoreIndex) => void): Promise<void> {
  const index = emptyIndex();
  change(index);
  await store.writeIndex(index);
}

const exists = (file: string) =>
  fs.access(file).then(
    () => true,
    () => false,
  );

/** Whether every blob of `image`, and its unpacked layers, is still in the store. */
async function kept(store: Store, image: Image): Promise<boolean> {
  const files = [...[image.manifest, image.config, ...image.layers].map((digest) => store.blobFile(digest)), ...image.layers.map((digest) => path.join(store.layersDir, hex(digest)))];
  const present = await Promise.all(files.map(exists));
  return present.every(Boolean);
}

/** Whether none of `image`'s own blobs (`shared` aside) nor unpacked layers is left. */
async function freed(store: Store, image: Image, shared: string[] = []): Promise<boolean> {
  const own = [image.manifest, image.config, ...image.layers].filter((digest) => !shared.includes(digest));
  const files = [...own.map((digest) => store.blobFile(digest)), ...image.layers.filter((digest) => !shared.includes(digest)).map((digest) => path.join(store.layersDir, hex(digest)))];
  const present = await Promise.all(files.map(exists));
  return present.every((is) => !is);
}

describe("collectGarbage", () => {
  test("keeps a tagged image whole, frees an untagged one, and keeps a layer both share", async () => {
    const store = await freshStore();
    const tagged = await putImage(store, "tagged", ["shared layer", "tagged's own layer"]);
    const untagged = await putImage(store, "untagged", ["shared layer", "untagged's own layer"]);
    await writeIndex(store, (index) => {
      index.images[tagged.manifest] = { stored: "now" };
      index.images[untagged.manifest] = { stored: "now" };
      index.tags["app:1"] = tagged.manifest;
    });
    const result = await collectGarbage(store);
    assert.deepEqual(result.removedImages, [untagged.manifest]);
    assert.ok(await kept(store, tagged));
    assert.ok(await freed(store, untagged, [tagged.layers[0] ?? ""]));
    assert.ok(result.freedBytes >= Buffer.byteLength("untagged's own layer") * 2, `freed ${result.freedBytes} bytes`);
    const index = await store.readIndex();
    assert.deepEqual(Object.keys(index.images), [tagged.manifest]);
    assert.deepEqual(index.tags, { "app:1": tagged.manifest });
  });

  test("a blob no image names is freed; a second gc frees nothing more", async () => {
    const store = await freshStore();
    const loose = await putBlob(store, Buffer.from("nobody's blob"));
    await writeIndex(store, () => undefined);
    const first = await collectGarbage(store);
    assert.equal(await exists(store.blobFile(loose)), false);
    assert.equal(first.freedBytes, Buffer.byteLength("nobody's blob"));
    assert.deepEqual(await collectGarbage(store), { freedBytes: 0, removedImages: [] });
  });

  test("a live process's lease keeps its image; a dead process's lease is dropped, its image freed and its staging dir removed", async () => {
    const store = await freshStore();
    const leased = await putImage(store, "leased", ["leased layer"]);
    const orphaned = await putImage(store, "orphaned", ["orphaned layer"]);
    const dead = deadPid();
    const target = path.join(root, `container-of-${stores}`);
    const staging = path.join(path.dirname(target), `.${path.basename(target)}.create-${dead}-0123456789ab`);
    await fs.mkdir(path.join(staging, "bin"), { recursive: true });
    await writeIndex(store, (index) => {
      index.images[leased.manifest] = { stored: "now" };
      index.images[orphaned.manifest] = { stored: "now" };
      index.leases.live = { image: leased.manifest, pid: process.pid };
      index.leases.dead = { image: orphaned.manifest, pid: dead, target };
    });
    const result = await collectGarbage(store);
    assert.deepEqual(result.removedImages, [orphaned.manifest]);
    assert.ok(await kept(store, leased));
    assert.ok(await freed(store, orphaned));
    assert.equal(await exists(staging), false, "the dead create-container's staging dir is gone");
    assert.deepEqual(Object.keys((await store.readIndex()).leases), ["live"]);
  });

  test("a registered container keeps its image while its record names it; a gone container's registration is dropped", async () => {
    const store = await freshStore();
    const used = await putImage(store, "used", ["used layer"]);
    const abandoned = await putImage(store, "abandoned", ["abandoned layer"]);
    const container = path.join(root, `container-${stores}`);
    await fs.mkdir(path.dirname(containerRecordFile(container)), { recursive: true });
    await fs.writeFile(containerRecordFile(container), JSON.stringify({ image: { digest: used.manifest } }));
    const gone = path.join(root, `gone-${stores}`);
    await writeIndex(store, (index) => {
      index.images[used.manifest] = { stored: "now" };
      index.images[abandoned.manifest] = { stored: "now" };
      index.containers[container] = used.manifest;
      index.containers[gone] = abandoned.manifest;
    });
    await collectGarbage(store);
    assert.ok(await kept(store, used));
    assert.ok(await freed(store, abandoned));
    assert.deepEqual((await store.readIndex()).containers, { [container]: used.manifest });
  });

  test("a container whose record now names another image no longer keeps the one it was registered with", async () => {
    const store = await freshStore();
    const old = await putImage(store, "old", ["old layer"]);
    const container = path.join(root, `remade-${stores}`);
    await fs.mkdir(path.dirname(containerRecordFile(container)), { recursive: true });
    await fs.writeFile(containerRecordFile(container), JSON.stringify({ image: { digest: `sha256:${"e".repeat(64)}` } }));
    await writeIndex(store, (index) => {
      index.images[old.manifest] = { stored: "now" };
      index.containers[container] = old.manifest;
    });
    assert.deepEqual((await collectGarbage(store)).removedImages, [old.manifest]);
    assert.ok(await freed(store, old));
  });

  test("an image whose manifest is unreadable keeps just its manifest blob", async () => {
    const store = await freshStore();
    const damaged = await putBlob(store, Buffer.from("not a manifest"));
    const layer = await putBlob(store, Buffer.from("a layer only a readable manifest could name"));
    await writeIndex(store, (index) => {
      index.images[damaged] = { stored: "now" };
      index.tags["broken:1"] = damaged;
    });
    await collectGarbage(store);
    assert.equal(await exists(store.blobFile(damaged)), true);
    assert.equal(await exists(store.blobFile(layer)), false);
  });

  test("what dead processes left in the store's tmp/ and pypakr's tmp dir goes; a live process's stays", async () => {
    const store = await freshStore();
    const dead = deadPid();
    const deadStoreTemp = path.join(store.tmpDir, `${dead}-pull-0123456789ab`);
    const liveStoreTemp = store.tempPath("pull");
    const deadScratch = path.join(store.pypakrTmpDir, `pypakr-build-${dead}-0123456789ab`);
    const liveScratch = path.join(store.pypakrTmpDir, `pypakr-build-${process.pid}-0123456789ab`);
    for (const dir of [deadStoreTemp, liveStoreTemp, deadScratch, liveScratch]) {
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(path.join(dir, "data"), "12345");
    }
    await writeIndex(store, () => undefined);
    const result = await collectGarbage(store);
    assert.equal(await exists(deadStoreTemp), false);
    assert.equal(await exists(deadScratch), false);
    assert.equal(await exists(liveStoreTemp), true);
    assert.equal(await exists(liveScratch), true);
    assert.ok(result.freedBytes >= 10, `freed ${result.freedBytes} bytes`);
  });

  test("a partial download no pull is fetching is freed; one a pull holds locked is kept", async () => {
    const store = await freshStore();
    const idle = path.join(store.partialDir, "a".repeat(64));
    const fetching = path.join(store.partialDir, "b".repeat(64));
    await fs.writeFile(idle, "half a blob");
    await fs.writeFile(fetching, "half another");
    const release = await acquireLock(`${fetching}.lock`, 1000);
    try {
      await writeIndex(store, () => undefined);
      await collectGarbage(store);
      assert.equal(await exists(idle), false);
      assert.equal(await exists(fetching), true);
      assert.equal(await exists(`${fetching}.lock`), true);
    } finally {
      await release();
    }
  });
});
