/** An outside reader accepts pypakr's images: Debian's skopeo (containers/image). */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { buildJokesImage, makeTempDir, removeDir, sh } from "../support/helpers.js";
import { imageParts } from "../support/image-files.js";
import { PYPAKR_FORMAT_VERSION } from "../../src/image/media-types.js";

let dir: string;
let image: string;

before(async () => {
  if (sh("command -v skopeo").code !== 0) {
    throw new Error("skopeo is not installed: run `bash scripts/test.sh` (it installs it) or `apt-get install skopeo`");
  }
  dir = await makeTempDir();
  image = await buildJokesImage(dir);
});
after(() => removeDir(dir));

test("skopeo inspect reads the image archive: platform, layers, entry point", async () => {
  const result = sh(`skopeo inspect oci-archive:'${image}'`);
  assert.equal(result.code, 0, result.stderr);
  const inspected = JSON.parse(result.stdout) as { Architecture: string; Os: string; Layers: string[]; Digest: string };
  const parts = await imageParts(image);
  assert.equal(inspected.Os, "linux");
  assert.ok(inspected.Architecture.length > 0);
  assert.deepEqual(inspected.Layers, parts.manifest.layers.map((layer) => layer.digest));
  assert.equal(inspected.Digest, parts.index.manifests[0]?.digest);
  const config = JSON.parse(sh(`skopeo inspect --config --raw oci-archive:'${image}'`).stdout) as { config: { Entrypoint: string[] }; pypakr: { formatVersion: number } };
  assert.deepEqual(config.config.Entrypoint, ["./run"]);
  assert.equal(config.pypakr.formatVersion, PYPAKR_FORMAT_VERSION);
});

test("skopeo copy verifies every blob and re-creates the same manifest digest", async () => {
  const copy = path.join(dir, "copied");
  const result = sh(`skopeo copy --quiet oci-archive:'${image}' oci:'${copy}':jokes`);
  assert.equal(result.code, 0, result.stderr);
  const inspected = JSON.parse(sh(`skopeo inspect oci:'${copy}':jokes`).stdout) as { Digest: string };
  assert.equal(inspected.Digest, (await imageParts(image)).index.manifests[0]?.digest);
});
