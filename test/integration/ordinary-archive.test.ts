/**
 * readOrdinaryArchive: a runtime given as oci-archive:PATH. Archives written
 * by skopeo (one image with a ref name; several in one layout), indexes per
 * platform, a pypakr image, and hostile archives (a blob that is not its
 * digest, an oversize or missing document, a missing layer, names that leave
 * the archive), each refused with nothing written outside the work dir.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { readOrdinaryArchive } from "../../src/image/index.js";
import { MAX_MANIFEST_BYTES } from "../../src/image/media-types.js";
import { makeTempDir, removeDir } from "../support/helpers.js";
import { indexEntry, OCI_INDEX, ordinaryImage, type OrdinaryTestImage, platformIndex, refusedWith, writeOciArchive } from "../support/ordinary.js";
import { digestOf, makeImage, requireBinaries } from "../support/registry.js";
import type { TarEntry } from "../support/tar.js";

const AMD64 = { os: "linux", architecture: "amd64" };
const ARM64 = { os: "linux", architecture: "arm64", variant: "v8" };

describe("readOrdinaryArchive", () => {
  let work: string;
  let amd: OrdinaryTestImage;
  let arm: OrdinaryTestImage;
  let count = 0;
  const freshDir = async () => {
    const dir = path.join(work, `read-${++count}`);
    await fs.mkdir(dir);
    return dir;
  };
  /** The blobs a work dir holds, each checked against its name. */
  const blobsIn = async (dir: string) => {
    const names = await fs.readdir(path.join(dir, "blobs", "sha256"));
    for (const name of names) assert.equal(digestOf(await fs.readFile(path.join(dir, "blobs", "sha256", name))), `sha256:${name}`, `unverified blob ${name}`);
    return names.sort();
  };
  const namesOf = (image: OrdinaryTestImage) => image.contents.map((bytes) => digestOf(bytes).slice(7)).sort();

  before(async () => {
    requireBinaries(["skopeo"]);
    work = await makeTempDir("pypakr-ordinary-archive-");
    const blobs = path.join(work, "blobs");
    await fs.mkdir(blobs);
    amd = await ordinaryImage(blobs, { platform: AMD64, env: ["PATH=/usr/bin:/bin", "WHICH=amd"] });
    arm = await ordinaryImage(blobs, { platform: ARM64, layerCount: 1, env: ["WHICH=arm"] });
  });
  after(async () => {
    await removeDir(work);
  });

  test("an archive skopeo wrote (one image, with a ref name) is read, by its name or as the only one", async () => {
    const plain = await writeOciArchive(path.join(work, "plain.tar"), [indexEntry(amd.manifestBytes)], amd.contents);
    const copied = path.join(work, "skopeo.tar");
    execFileSync("skopeo", ["copy", "--quiet", `oci-archive:${plain}`, `oci-archive:${copied}:python-3.11`], { stdio: "pipe" });
    for (const options of [{ refName: "python-3.11" }, {}, { platform: AMD64 }]) {
      const dir = await freshDir();
      const image = await readOrdinaryArchive(copied, dir, options);
      assert.equal(image.source, `oci-archive:${copied}`);
      assert.deepEqual(image.config.config?.Env, ["PATH=/usr/bin:/bin", "WHICH=amd"]);
      assert.equal(image.manifest.layers.length, 2);
      for (const [i, layer] of image.manifest.layers.entries()) {
        assert.equal(image.blobFile(layer.digest), path.join(dir, "blobs", "sha256", layer.digest.slice(7)));
        assert.deepEqual(await fs.readFile(image.blobFile(layer.digest)), amd.layers[i], "skopeo kept the layer's bytes");
      }
      assert.ok((await blobsIn(dir)).includes(image.manifestDigest.slice(7)));
    }
    await assert.rejects(readOrdinaryArchive(copied, await freshDir(), { refName: "python-3.12" }), refusedWith("image-invalid", /has no image named "python-3\.12"; it holds: "python-3\.11"/));
  });

  test("a layout holding several images (skopeo copies into one oci: layout) is read by ref name; without one, the error lists the names", async () => {
    const layout = path.join(work, "layout");
    for (const [image, name] of [[amd, "amd"], [arm, "arm"]] as const) {
      const plain = await writeOciArchive(path.join(work, `plain-${name}.tar`), [indexEntry(image.manifestBytes)], image.contents);
      execFileSync("skopeo", ["copy", "--quiet", `oci-archive:${plain}`, `oci:${layout}:runtime-${name}`], { stdio: "pipe" });
    }
    const archive = path.join(work, "two.tar");
    execFileSync("tar", ["-C", layout, "-cf", archive, "."]);
    const dir = await freshDir();
    const image = await readOrdinaryArchive(archive, dir, { refName: "runtime-arm" });
    assert.deepEqual(image.config.config?.Env, ["WHICH=arm"]);
    assert.equal(image.config.architecture, "arm64");
    // The other image's blobs are not kept.
    assert.deepEqual(await blobsIn(dir), namesOf(arm));
    await assert.rejects(readOrdinaryArchive(archive, await freshDir()), refusedWith("image-invalid", /holds 2 images \("runtime-amd", "runtime-arm"\)/));
  });

  test("an index per platform, nested or in index.json itself: the platform chooses, and a missing one is named", async () => {
    const index = platformIndex([{ image: amd, platform: AMD64 }, { image: arm, platform: ARM64 }]);
    const nested = await writeOciArchive(path.join(work, "nested.tar"), [indexEntry(index, { mediaType: OCI_INDEX, refName: "python" })], [index, ...amd.contents, ...arm.contents]);
    const flat = await writeOciArchive(path.join(work, "flat.tar"), [indexEntry(amd.manifestBytes, { platform: AMD64 }), indexEntry(arm.manifestBytes, { platform: ARM64 })], [...amd.contents, ...arm.contents]);
    for (const archive of [nested, flat]) {
      const dir = await freshDir();
      const image = await readOrdinaryArchive(archive, dir, { platform: { os: "linux", architecture: "arm64" } });
      assert.equal(image.manifestDigest, arm.manifestDigest);
      assert.equal(image.config.architecture, "arm64");
      assert.equal((await readOrdinaryArchive(archive, await freshDir(), { platform: AMD64 })).manifestDigest, amd.manifestDigest);
      await assert.rejects(readOrdinaryArchive(archive, await freshDir(), { platform: { os: "linux", architecture: "riscv64" } }), refusedWith("platform-mismatch", /has no image for linux\/riscv64: it has linux\/amd64, linux\/arm64\/v8/));
    }
    await assert.rejects(readOrdinaryArchive(nested, await freshDir()), refusedWith("image-invalid", /index of 2 images \(linux\/amd64, linux\/arm64\/v8\), and no platform was given/));
    // One image whose config names another platform than the one wanted.
    const single = await writeOciArchive(path.join(work, "single-arm.tar"), [indexEntry(arm.manifestBytes)], arm.contents);
    await assert.rejects(readOrdinaryArchive(single, await freshDir(), { platform: AMD64 }), refusedWith("platform-mismatch", /has no image for linux\/amd64: it has linux\/arm64\/v8/));
  });

  test("a pypakr image reads as an ordinary image (OCI manifest and config), though it holds no interpreter", async () => {
    const pypakr = await makeImage(work, [3000]);
    const image = await readOrdinaryArchive(pypakr.file, await freshDir());
    assert.equal(image.manifestDigest, pypakr.digest);
    assert.equal(image.config.os, "linux");
  });

  describe("hostile archives are refused, with nothing written outside the work dir", () => {
    const other = Buffer.from("not the layer");
    const manifestOf = (mutate: (manifest: { config: { digest: string; size: number }; layers: { digest: string; size: number }[] }) => void): Buffer => {
      const manifest = JSON.parse(amd.manifestBytes.toString("utf8")) as Parameters<typeof mutate>[0];
      mutate(manifest);
      return Buffer.from(JSON.stringify(manifest));
    };
    const cases: { name: string; entries: () => object[]; blobs: () => Buffer[]; extra?: () => TarEntry[]; expect: RegExp }[] = [
      {
        name: "a blob whose bytes are not its digest",
        entries: () => [indexEntry(amd.manifestBytes)],
        blobs: () => [amd.manifestBytes, amd.configBytes, amd.layers[0] as Buffer],
        extra: () => [{ name: `blobs/sha256/${digestOf(amd.layers[1] as Buffer).slice(7)}`, body: other }],
        expect: /is corrupt \(its content hashes to/,
      },
      {
        name: "a manifest larger than pypakr reads (refused on its descriptor's word)",
        entries: () => [indexEntry(amd.manifestBytes, { size: MAX_MANIFEST_BYTES + 1 })],
        blobs: () => amd.contents,
        expect: /its manifest sha256:[0-9a-f]{64} is 4194305 bytes, more than pypakr reads/,
      },
      {
        name: "a manifest whose size is not its descriptor's",
        entries: () => [indexEntry(amd.manifestBytes, { size: amd.manifestBytes.length - 1 })],
        blobs: () => amd.contents,
        expect: /bytes, but the image says/,
      },
      {
        name: "a missing layer",
        entries: () => [indexEntry(amd.manifestBytes)],
        blobs: () => [amd.manifestBytes, amd.configBytes, amd.layers[0] as Buffer],
        expect: /its layer sha256:[0-9a-f]{64} is missing/,
      },
      {
        name: "a missing config",
        entries: () => [indexEntry(amd.manifestBytes)],
        blobs: () => [amd.manifestBytes, ...amd.layers],
        expect: /its config sha256:[0-9a-f]{64} is missing/,
      },
      {
        name: "a config larger than its descriptor says",
        entries: () => [indexEntry(manifestOf((manifest) => (manifest.config.size -= 1)))],
        blobs: () => [manifestOf((manifest) => (manifest.config.size -= 1)), amd.configBytes, ...amd.layers],
        expect: /its config sha256:[0-9a-f]{64} is \d+ bytes, but the image says/,
      },
      {
        name: "an entry name that climbs out of the archive",
        entries: () => [indexEntry(amd.manifestBytes)],
        blobs: () => amd.contents,
        extra: () => [{ name: "blobs/sha256/../../../escaped", body: "x" }],
        expect: /archive entry "blobs\/sha256\/\.\.\/\.\.\/\.\.\/escaped"/,
      },
      {
        name: "an absolute entry name",
        entries: () => [indexEntry(amd.manifestBytes)],
        blobs: () => amd.contents,
        extra: () => [{ name: "/tmp/escaped", body: "x" }],
        expect: /archive entry "\/tmp\/escaped"/,
      },
      {
        name: "a symlink among the blobs",
        entries: () => [indexEntry(amd.manifestBytes)],
        blobs: () => amd.contents,
        extra: () => [{ name: "blobs/sha256/link", type: "symlink", linkname: "/etc/passwd" }],
        expect: /is a symlink, and an image holds only files/,
      },
    ];
    for (const hostile of cases) {
      test(hostile.name, async () => {
        const archive = await writeOciArchive(path.join(work, `hostile-${++count}.tar`), hostile.entries(), hostile.blobs(), hostile.extra?.());
        const parent = await freshDir();
        const dir = path.join(parent, "work");
        await assert.rejects(readOrdinaryArchive(archive, dir, { platform: AMD64 }), refusedWith("image-invalid", hostile.expect));
        assert.deepEqual(await fs.readdir(parent), ["work"], "something was written beside the work dir");
        for (const name of await fs.readdir(path.join(dir, "blobs", "sha256")).catch(() => [] as string[])) {
          assert.equal(digestOf(await fs.readFile(path.join(dir, "blobs", "sha256", name))), `sha256:${name}`, `an unverified blob ${name} stayed`);
        }
      });
    }
  });
});
