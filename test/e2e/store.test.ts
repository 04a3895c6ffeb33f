/**
 * The store: tags and digests as image names, save/load round trips,
 * rmi and gc that free exactly what nothing needs, store verify that finds
 * and repairs damage, and link modes with verify -c.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { buildJokesImage, expectCleanFailure, expectOk, JOKE, makeTempDir, privateHome, pypakr, removeDir, sh } from "../support/helpers.js";

let dir: string;
let home: string;
let imageFile: string;
let digest: string;

before(async () => {
  dir = await makeTempDir();
  home = await privateHome(dir);
  imageFile = await buildJokesImage(dir, { home });
  digest = (JSON.parse(expectOk(await pypakr(["inspect", "--json", imageFile], { home }), "inspect").stdout) as { digest: string }).digest;
});
after(() => removeDir(dir));

const run = (args: string[]) => pypakr(args, { home });

interface Listed {
  tags: string[];
  digest: string;
  python: string;
  size: number;
}

async function listed(): Promise<Listed[]> {
  return JSON.parse(expectOk(await run(["images", "--json"]), "images").stdout) as Listed[];
}

describe("store", () => {
  test("create-image -t stores the image; images lists tag, digest, Python and size", async () => {
    const list = await listed();
    const jokes = list.find((image) => image.tags.includes("jokes:1"));
    assert.ok(jokes, JSON.stringify(list));
    assert.equal(jokes.digest, digest);
    assert.match(jokes.python, /^CPython 3\./);
    assert.ok(jokes.size > 1000);
    assert.match(expectOk(await run(["images"]), "images").stdout, /^TAG\s+DIGEST\s+PYTHON\s+SIZE\s+STORED\njokes:1\s+[0-9a-f]{12}\s+CPython/);
  });

  test("create-container takes a tag, a full digest or a short one, as well as a file", async () => {
    for (const [name, ref] of [["by-tag", "jokes:1"], ["by-digest", digest], ["by-short", digest.slice(7, 19)], ["by-file", imageFile]] as const) {
      const container = path.join(dir, name);
      expectOk(await run(["create-container", "-i", ref, "-c", container]), `create-container -i ${ref}`);
      assert.ok(expectOk(await run(["run", "-c", container]), "run").stdout.startsWith(JOKE));
    }
    expectCleanFailure(await run(["create-container", "-i", "nosuch:tag", "-c", path.join(dir, "never")]), /no image "nosuch:tag"/);
  });

  test("save writes the same bytes create-image wrote; load of it into another store keeps the tag", async () => {
    const saved = path.join(dir, "saved.tar");
    expectOk(await run(["save", "jokes:1", "-o", saved]), "save");
    assert.ok((await fs.readFile(saved)).equals(await fs.readFile(imageFile)), "save is not byte-identical to create-image's archive");
    const other = path.join(dir, "other-home");
    expectOk(await pypakr(["load", "-i", saved], { home: other }), "load");
    const list = JSON.parse(expectOk(await pypakr(["images", "--json"], { home: other }), "images").stdout) as Listed[];
    assert.deepEqual(list.map((image) => [image.tags, image.digest]), [[["jokes:1"], digest]]);
  });

  test("an archive's blobs that the store already holds are verified but not copied again", async () => {
    const scratch = path.join(dir, "known-blobs-home");
    expectOk(await pypakr(["load", "-i", imageFile], { home: scratch }), "load");
    const blobs = path.join(scratch, "store", "blobs", "sha256");
    const before = new Map(await Promise.all((await fs.readdir(blobs)).map(async (name) => [name, (await fs.stat(path.join(blobs, name))).ino] as const)));
    expectOk(await pypakr(["load", "-i", imageFile, "-t", "again:1"], { home: scratch }), "load again");
    for (const [name, inode] of before) assert.equal((await fs.stat(path.join(blobs, name))).ino, inode, `blob ${name} was replaced`);

    // A damaged copy of a blob the store holds is still refused.
    const { readArchive, writeArchive } = await import("../support/image-files.js");
    const files = await readArchive(imageFile);
    const [name, blob] = [...files].find(([entry, body]) => entry.startsWith("blobs/") && body.length > 500) ?? [];
    assert.ok(name && blob);
    const damaged = Buffer.from(blob);
    damaged[100] = (damaged[100] ?? 0) ^ 0xff;
    files.set(name, damaged);
    const file = path.join(dir, "damaged-known-blob.tar");
    await writeArchive(file, files);
    expectCleanFailure(await pypakr(["load", "-i", file, "-t", "damaged:1"], { home: scratch }), /is corrupt/);
    expectOk(await pypakr(["store", "verify"], { home: scratch }), "store verify");
  });

  test("rmi keeps what containers need; gc frees what no tag or container needs", async () => {
    const scratch = path.join(dir, "gc-home");
    const container = path.join(dir, "gc-container");
    const listedIn = async () => (JSON.parse(expectOk(await pypakr(["images", "--json"], { home: scratch }), "images").stdout) as Listed[]).map((image) => [image.tags, image.digest]);
    expectOk(await pypakr(["load", "-i", imageFile, "-t", "keep:1"], { home: scratch }), "load");
    expectOk(await pypakr(["create-container", "-i", "keep:1", "-c", container], { home: scratch }), "create-container");
    const refused = await pypakr(["rmi", "keep:1"], { home: scratch });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /image keep:1 is used by 1 container/);
    assert.deepEqual(await listedIn(), [[["keep:1"], digest]]);
    await removeDir(container);
    const removed = expectOk(await pypakr(["rmi", "keep:1"], { home: scratch }), "rmi once no container uses it");
    assert.match(removed.stdout, new RegExp(`^Untagged: keep:1\nDeleted: ${digest}\nFreed `));
    assert.deepEqual(await listedIn(), []);

    // An image file's image is stored untagged: gc keeps it while a container uses it, then frees it.
    expectOk(await pypakr(["create-container", "-i", imageFile, "-c", container], { home: scratch }), "create-container from the file");
    assert.deepEqual((JSON.parse(expectOk(await pypakr(["gc", "--json"], { home: scratch }), "gc").stdout) as { removedImages: string[] }).removedImages, []);
    await removeDir(container);
    const gc = JSON.parse(expectOk(await pypakr(["gc", "--json"], { home: scratch }), "gc").stdout) as { freedBytes: number; removedImages: string[] };
    assert.deepEqual(gc.removedImages, [digest]);
    assert.ok(gc.freedBytes > 1000, `freed ${gc.freedBytes}`);
    assert.deepEqual(await fs.readdir(path.join(scratch, "store", "blobs", "sha256")), []);
    assert.deepEqual(await fs.readdir(path.join(scratch, "store", "layers", "sha256")), []);
  });

  test("a layer blob damaged on disk after loading is caught while it is unpacked; no container is made", async () => {
    const scratch = path.join(dir, "damaged-home");
    expectOk(await pypakr(["load", "-i", imageFile, "-t", "damaged:1"], { home: scratch }), "load");
    const parts = JSON.parse(await fs.readFile(path.join(scratch, "store", "blobs", "sha256", digest.slice(7)), "utf8")) as { layers: { digest: string }[] };
    const layer = path.join(scratch, "store", "blobs", "sha256", (parts.layers[0]?.digest ?? "").slice(7));
    const bytes = await fs.readFile(layer);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
    await fs.writeFile(layer, bytes);
    const container = path.join(dir, "from-damaged");
    expectCleanFailure(await pypakr(["create-container", "-i", "damaged:1", "-c", container], { home: scratch }), /is damaged|not a readable tar/);
    await assert.rejects(fs.access(container));
    assert.deepEqual(await fs.readdir(path.join(scratch, "store", "layers", "sha256")).then((names) => names.includes((parts.layers[0]?.digest ?? "").slice(7))), false, "a damaged layer was cached");
  });

  test("store verify finds a corrupt blob; --repair removes it and the images that needed it", async () => {
    const scratch = path.join(dir, "verify-home");
    expectOk(await pypakr(["load", "-i", imageFile], { home: scratch }), "load");
    expectOk(await pypakr(["store", "verify"], { home: scratch }), "verify a clean store");
    const blobs = path.join(scratch, "store", "blobs", "sha256");
    const victim = (await fs.readdir(blobs)).find((name) => `sha256:${name}` !== digest) ?? "";
    await fs.appendFile(path.join(blobs, victim), "rot");
    const found = await pypakr(["store", "verify"], { home: scratch });
    assert.equal(found.code, 1);
    assert.match(found.stdout, new RegExp(`problem: blob sha256:${victim} is corrupt`));
    expectOk(await pypakr(["store", "verify", "--repair"], { home: scratch }), "repair");
    expectOk(await pypakr(["store", "verify"], { home: scratch }), "verify after repair");
    assert.deepEqual(JSON.parse(expectOk(await pypakr(["images", "--json"], { home: scratch }), "images").stdout), []);
  });
});

describe("link modes and verify -c", () => {
  test("--link hardlink shares unchanged files with the store; relocated files get their own copy; copy shares nothing", async () => {
    const linked = path.join(dir, "linked");
    const copied = path.join(dir, "copied");
    const created = JSON.parse(expectOk(await run(["create-container", "-i", "jokes:1", "-c", linked, "--link", "hardlink", "--json"]), "hardlink").stdout) as { link: string };
    assert.equal(created.link, "hardlink");
    expectOk(await run(["create-container", "-i", "jokes:1", "-c", copied, "--link", "copy"]), "copy");
    const links = async (file: string) => (await fs.stat(file)).nlink;
    const module = "lib/python3.11/site-packages/jokes_core/__init__.py";
    assert.ok((await links(path.join(linked, module))) > 1);
    assert.equal(await links(path.join(copied, module)), 1);
    assert.equal(await links(path.join(linked, "bin", "joke")), 1, "a relocated script must be the container's own");
    assert.equal(await links(path.join(linked, "bin", "activate")), 1);
  });

  test("verify -c reports files changed, removed and added; a clean container passes", async () => {
    const container = path.join(dir, "verified");
    expectOk(await run(["create-container", "-i", "jokes:1", "-c", container, "--link", "copy"]), "create-container");
    assert.match(expectOk(await run(["verify", "-c", container]), "verify clean").stdout, /as the image and base made it/);
    await fs.appendFile(path.join(container, "README.txt"), "edited\n");
    await fs.rm(path.join(container, "bin", "joke"));
    await fs.writeFile(path.join(container, "notes.txt"), "mine\n");
    const result = await run(["verify", "-c", container]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /modified: README\.txt/);
    assert.match(result.stdout, /missing: bin\/joke/);
    assert.match(result.stdout, /added: notes\.txt/);
  });

  test("an edit in place through a hard link is caught: the next container gets a pristine layer", async () => {
    const edited = path.join(dir, "edited-in-place");
    expectOk(await run(["create-container", "-i", "jokes:1", "-c", edited, "--link", "hardlink"]), "create-container");
    await fs.appendFile(path.join(edited, "lib/python3.11/site-packages/jokes_core/__init__.py"), "JOKES[0] = 'tampered'\n");
    const found = await run(["store", "verify"]);
    assert.equal(found.code, 1);
    assert.match(found.stdout, /changed since unpacking/);
    const fresh = path.join(dir, "after-edit");
    const created = expectOk(await run(["create-container", "-i", "jokes:1", "-c", fresh, "--link", "hardlink"]), "create-container after the edit");
    assert.match(created.stderr, /unpacking it again/);
    assert.equal(sh(`'${fresh}/bin/joke'`).stdout.split("\n")[0], JOKE);
    expectOk(await run(["verify", "-c", fresh]), "verify the fresh container");
    expectOk(await run(["store", "verify"]), "the store is clean again");
  });
});
