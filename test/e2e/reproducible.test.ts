// test-stream: own-home
/**
 * Images are reproducible: the same source built twice, in different work
 * dirs, at different times, in different stores (each with its own base, at
 * paths of different lengths), gives bit-identical archives; the same wheel gives the same layer in any image.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { CLI, cliEnv, expectOk, makeJokesSource, makeTempDir, makeWheel, pypakr, removeDir, sh, tarDirectory, writeExecutable } from "../support/helpers.js";

let dir: string;
let source: string;
before(async () => {
  dir = await makeTempDir();
  source = tarDirectory(await makeJokesSource(path.join(dir, "src")), path.join(dir, "jokes.tar"));
});
after(() => removeDir(dir));

interface Inspected {
  digest: string;
  layers: { digest: string; holds: string }[];
  created: string;
}

async function build(home: string, image: string, env: NodeJS.ProcessEnv = {}): Promise<Inspected> {
  expectOk(await pypakr(["create-image", "-s", source, "-i", image], { home, env }), "create-image");
  return JSON.parse(expectOk(await pypakr(["inspect", "--json", image], { home }), "inspect").stdout) as Inspected;
}

/**
 * A home whose path is longer than the other's by far: its base's scripts
 * hold a longer path (pip even writes their shebangs in its `/bin/sh` form,
 * the line being past the kernel's 127 bytes), and its work env goes under
 * the system's tmp dir instead of the home's.
 */
function longHome(): string {
  return path.join(dir, "a-store-whose-path-is-much-longer-than-the-other-one", "x".repeat(60));
}

test("the same source built in two stores whose paths differ in length, at two times, under two umasks, gives a bit-identical image", { timeout: 300_000 }, async () => {
  const first = await build(path.join(dir, "store-a"), path.join(dir, "a.tar"));
  // Another second: another creation time for the second store's base and everything in it.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const home = longHome();
  // And another umask (group-writable, as on many desktops): the base's files get other modes.
  const init = sh(`umask 002 && exec '${CLI}' init`, { env: cliEnv({ home }) });
  assert.equal(init.code, 0, init.stderr);
  const second = await build(home, path.join(dir, "b.tar"));
  const [kind] = (await fs.readdir(path.join(home, "bases"))).filter((name) => !name.startsWith("."));
  assert.match(await fs.readFile(path.join(home, "bases", kind ?? "", "bin", "pip"), "utf8"), /^#!\/bin\/sh\n/, "the long home's base should hold pip's /bin/sh form");
  assert.equal(second.digest, first.digest);
  assert.ok((await fs.readFile(path.join(dir, "a.tar"))).equals(await fs.readFile(path.join(dir, "b.tar"))), "archives differ");
  assert.equal(first.created, "1970-01-01T00:00:00.000Z");
});

test("SOURCE_DATE_EPOCH sets the creation time and changes nothing else", async () => {
  const plain = await build(path.join(dir, "store-a"), path.join(dir, "plain.tar"));
  const dated = await build(path.join(dir, "store-a"), path.join(dir, "dated.tar"), { SOURCE_DATE_EPOCH: "1700000000" });
  assert.equal(dated.created, "2023-11-14T22:13:20.000Z");
  assert.notEqual(dated.digest, plain.digest);
  assert.deepEqual(dated.layers, plain.layers);
});

test("two images that install the same wheel share that layer's digest", async () => {
  const other = path.join(dir, "other-src");
  makeWheel(path.join(other, "packages"), { name: "jokes-core", files: { "jokes_core/__init__.py": `JOKES = [${JSON.stringify("Why did the venv cross the road? To get to the other site-packages.")}]\n` } });
  await writeExecutable(path.join(other, "setup"), "#!/bin/sh\nset -e\npip install --no-index --find-links packages jokes-core\necho extra > extra.txt\n");
  const home = path.join(dir, "store-a");
  const jokes = await build(home, path.join(dir, "jokes-again.tar"));
  expectOk(await pypakr(["create-image", "-s", other, "-i", path.join(dir, "other.tar")], { home }), "create-image");
  const otherImage = JSON.parse(expectOk(await pypakr(["inspect", "--json", path.join(dir, "other.tar")], { home }), "inspect").stdout) as Inspected;
  const layerOf = (image: Inspected) => image.layers.find((layer) => layer.holds === "jokes-core 1.0")?.digest;
  assert.ok(layerOf(jokes));
  assert.equal(layerOf(otherImage), layerOf(jokes));
  assert.notEqual(otherImage.digest, jokes.digest);
});
