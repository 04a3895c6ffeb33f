/**
 * What a digest promises across Node.js versions (README, "What a digest
 * promises across Node.js versions"): the same source built under the Node.js
 * on PATH and under another line (PYPAKR_TEST_OTHER_NODE, which
 * `bash scripts/test.sh` provides: Node.js 22, the oldest pypakr supports)
 * gives the same uncompressed layers (rootfs.diff_ids) always, and the same
 * layer and manifest digests where both Nodes bundle the same compressor
 * version (zstd, or zlib for gzip). Where they bundle different ones, the test
 * says which digests differ and holds the diff_ids only.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { cliEnv, expectOk, homeSharingBases, makeTempDir, makeWheel, privateHome, pypakr, removeDir, writeExecutable } from "../support/helpers.js";
import { imageParts } from "../support/image-files.js";

const otherNode = process.env.PYPAKR_TEST_OTHER_NODE;
// Set by scripts/test.sh when it could not provide the other Node.js: the comparison then fails with that reason, never skips.
const otherNodeError = process.env.PYPAKR_TEST_OTHER_NODE_ERROR;
const skip = otherNode || otherNodeError ? false : "PYPAKR_TEST_OTHER_NODE is not set: point it at a Node.js 22.15+ binary of another line than the one on PATH, or run `bash scripts/test.sh`, which provides Node.js 22";

interface NodeVersions {
  node: string;
  zstd: string;
  zlib: string;
}

/** The versions of the Node.js the launcher would run: `node` on PATH, or PYPAKR_NODE. */
function versionsOf(node: string): NodeVersions {
  const result = spawnSync(node, ["-p", "JSON.stringify(process.versions)"], { encoding: "utf8", env: cliEnv() });
  if (result.status !== 0) throw new Error(`${node} -p process.versions failed (exit ${result.status}): ${result.error?.message ?? result.stderr}`);
  return JSON.parse(result.stdout) as NodeVersions;
}

interface Digests {
  manifest: string;
  layers: string[];
  mediaTypes: string[];
  diffIds: string[];
}

let dir: string;
let source: string;
let homes: { path: string; other: string };
before(async () => {
  if (skip) return;
  dir = await makeTempDir("pypakr-node-versions-");
  source = path.join(dir, "src");
  makeWheel(path.join(source, "packages"), { name: "tiny", files: { "tiny/__init__.py": "GREETING = 'same bytes under every Node.js'\n" } });
  await writeExecutable(path.join(source, "setup"), "#!/bin/sh\nset -e\npip install --no-index --find-links packages tiny\n");
  // An app file of 2.6 MB, so a layer goes through the compressor in several of pypakr's 1 MiB pieces, not one.
  const lines = Array.from({ length: 40_000 }, (_, i) => createHash("sha256").update(String(i)).digest("hex"));
  await fs.writeFile(path.join(source, "data.txt"), `${lines.join("\n")}\n`);
  // A home each (sharing the machine's base, which neither modifies): nothing one build stores can serve the other.
  const onPath = await privateHome(dir);
  homes = { path: onPath, other: await homeSharingBases(onPath, path.join(dir, "home-other")) };
});
after(() => (dir ? removeDir(dir) : undefined));

async function build(home: string, image: string, compression: string[], node: string | undefined): Promise<Digests> {
  // PYPAKR_NODE unset: the launcher runs `node` from PATH, as the other tests do.
  const env = { PYPAKR_NODE: node };
  expectOk(await pypakr(["create-image", "-s", source, "-i", image, ...compression], { home, env }), `create-image ${compression.join(" ")} under ${node ?? "node on PATH"}`);
  const parts = await imageParts(image);
  return {
    manifest: parts.index.manifests[0]?.digest ?? "",
    layers: parts.manifest.layers.map((layer) => layer.digest),
    mediaTypes: parts.manifest.layers.map((layer) => layer.mediaType),
    diffIds: parts.config.rootfs.diff_ids,
  };
}

/**
 * Builds under both Nodes and compares. `codec` names the process.versions
 * entry of the library that compresses the layers.
 */
async function compare(context: TestContext, name: string, compression: string[], codec: "zstd" | "zlib", mediaType: RegExp): Promise<void> {
  assert.ok(otherNode);
  const mine = versionsOf("node");
  const theirs = versionsOf(otherNode);
  assert.notEqual(theirs.node.split(".")[0], mine.node.split(".")[0], `PYPAKR_TEST_OTHER_NODE (${otherNode}) is Node.js ${theirs.node}, the same line as the one on PATH: the comparison needs two lines`);
  // At once: each in its own home, so neither can see the other's store.
  const [onPath, other] = await Promise.all([
    build(homes.path, path.join(dir, `${name}-path.tar`), compression, undefined),
    build(homes.other, path.join(dir, `${name}-other.tar`), compression, otherNode),
  ]);
  for (const types of [onPath.mediaTypes, other.mediaTypes]) for (const type of types) assert.match(type, mediaType);
  assert.ok(onPath.layers.length > 0);

  assert.deepEqual(other.diffIds, onPath.diffIds, `the uncompressed layers differ between Node.js ${mine.node} and ${theirs.node}`);
  const sameCodec = mine[codec] === theirs[codec];
  const sameLayers = JSON.stringify(other.layers) === JSON.stringify(onPath.layers);
  const sameManifest = other.manifest === onPath.manifest;
  context.diagnostic(
    `Node.js ${mine.node} (${codec} ${mine[codec]}) and ${theirs.node} (${codec} ${theirs[codec]}), ${name}: diff_ids the same; ` +
      `layer digests ${sameLayers ? "the same" : "differ"}; manifest digest ${sameManifest ? "the same" : "differs"} (${onPath.manifest}${sameManifest ? "" : ` and ${other.manifest}`})`,
  );
  if (sameCodec) {
    assert.deepEqual(other.layers, onPath.layers, `same ${codec} ${mine[codec]}, yet the compressed layers differ`);
    assert.equal(other.manifest, onPath.manifest, `same ${codec} ${mine[codec]}, yet the manifests differ`);
  } else {
    context.diagnostic(`${codec} versions differ, so only diff_ids are held the same`);
  }
}

test("the same source under the Node.js on PATH and PYPAKR_TEST_OTHER_NODE: zstd layers", { skip, timeout: 120_000 }, async (context) => {
  if (otherNodeError) assert.fail(`scripts/test.sh could not provide the other Node.js: ${otherNodeError}`);
  await compare(context, "zstd", [], "zstd", /\+zstd$/);
});

test("the same source under the Node.js on PATH and PYPAKR_TEST_OTHER_NODE: --compression gzip", { skip, timeout: 120_000 }, async (context) => {
  if (otherNodeError) assert.fail(`scripts/test.sh could not provide the other Node.js: ${otherNodeError}`);
  await compare(context, "gzip", ["--compression", "gzip"], "zlib", /\+gzip$/);
});
