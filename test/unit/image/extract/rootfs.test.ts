/**
 * A runtime image's root filesystem, unpacked layer upon layer (what
 * `pypakr export` asks the runtime's Python in): links may lead anywhere
 * (only a sandbox with the tree as `/` follows them), device nodes are left
 * out, whiteouts are applied to the layers below and never to what the same
 * layer placed, and still nothing is written or deleted through a link.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { extractTar } from "../../../../src/image/extract/index.js";
import { PypakrError } from "../../../../src/util/errors.js";
import { opaque, tarOf, whiteout, type TarEntry } from "../../../support/tar.js";
import { listTree, makeTempDir, removeDir } from "../../../support/helpers.js";

let scratch = "";
let cases = 0;

before(async () => {
  scratch = await makeTempDir("pypakr-unit-rootfs-");
});

after(async () => {
  await removeDir(scratch);
});

/** Unpacks the layers in order into a fresh tree, as export does; returns the tree. */
async function unpack(...layers: TarEntry[][]): Promise<string> {
  cases += 1;
  const dir = path.join(scratch, `case-${cases}`);
  const tree = path.join(dir, "rootfs");
  await fs.mkdir(tree, { recursive: true });
  for (const [index, entries] of layers.entries()) {
    const archive = path.join(dir, `layer-${index}.tar.gz`);
    await fs.writeFile(archive, tarOf(entries, { gzip: true }));
    await extractTar(archive, tree, { what: `layer ${index + 1}`, whiteouts: "apply", rootfs: true });
  }
  return tree;
}

const debianLike: TarEntry[] = [
  { name: "usr/", type: "directory" },
  { name: "usr/bin/", type: "directory" },
  { name: "usr/bin/python3.11", body: "ELF", mode: 0o755 },
  { name: "usr/bin/python3", type: "symlink", linkname: "python3.11" },
  { name: "bin", type: "symlink", linkname: "usr/bin" },
  { name: "etc/", type: "directory" },
  { name: "etc/alternatives/", type: "directory" },
  { name: "etc/alternatives/python", type: "symlink", linkname: "/usr/bin/python3" },
  { name: "etc/up", type: "symlink", linkname: "../../../usr" },
  { name: "dev/", type: "directory" },
  { name: "dev/null", type: "character-device" },
  { name: "dev/fifo", type: "fifo" },
  { name: "usr/lib/", type: "directory" },
  { name: "usr/lib/a.so", body: "lib a" },
  { name: "usr/lib/b.so", type: "link", linkname: "usr/lib/a.so" },
  { name: "usr/share/", type: "directory" },
  { name: "usr/share/doc/", type: "directory" },
  { name: "usr/share/doc/one", body: "1" },
  { name: "usr/share/doc/two", body: "2" },
];

describe("a runtime's root filesystem", () => {
  test("keeps absolute and climbing links as they are, and leaves out device nodes and fifos", async () => {
    const tree = await unpack(debianLike);
    assert.equal(await fs.readlink(path.join(tree, "etc/alternatives/python")), "/usr/bin/python3");
    assert.equal(await fs.readlink(path.join(tree, "etc/up")), "../../../usr");
    assert.deepEqual(await fs.readdir(path.join(tree, "dev")), []);
    assert.equal((await fs.stat(path.join(tree, "usr/lib/b.so"))).ino, (await fs.stat(path.join(tree, "usr/lib/a.so"))).ino);
  });

  test("applies a later layer's whiteouts and opaque directories to the layers below", async () => {
    const tree = await unpack(debianLike, [whiteout("usr/lib/a.so"), opaque("usr/share/doc"), { name: "usr/share/doc/three", body: "3" }]);
    assert.equal(await fs.readFile(path.join(tree, "usr/lib/b.so"), "utf8"), "lib a", "the other name of a hard-linked file stays");
    await assert.rejects(fs.lstat(path.join(tree, "usr/lib/a.so")), { code: "ENOENT" });
    assert.deepEqual(await fs.readdir(path.join(tree, "usr/share/doc")), ["three"]);
  });

  test("an opaque marker after its layer's own files hides only the lower layers' (the OCI rule, whatever the order)", async () => {
    const tree = await unpack(debianLike, [{ name: "usr/share/doc/three", body: "3" }, opaque("usr/share/doc"), { name: "usr/bin/new", body: "n" }, whiteout("usr/bin/new")]);
    assert.deepEqual(await fs.readdir(path.join(tree, "usr/share/doc")), ["three"]);
    assert.equal(await fs.readFile(path.join(tree, "usr/bin/new"), "utf8"), "n", "a whiteout does not delete what its own layer placed");
  });

  test("a whiteout of a whole directory removes it; one of nothing is a no-op", async () => {
    const tree = await unpack(debianLike, [whiteout("usr/share"), whiteout("opt/nothing")]);
    const names = await listTree(tree);
    assert.ok(!names.some((name) => name.startsWith("usr/share")), names.join(" "));
  });

  test("never writes or deletes through a link, even one that leads to the host", async () => {
    const host = path.join(scratch, "host");
    await fs.mkdir(host, { recursive: true });
    await fs.writeFile(path.join(host, "keep"), "precious");
    const write = unpack([{ name: "opt", type: "symlink", linkname: host }], [{ name: "opt/evil", body: "x" }]);
    await assert.rejects(write, (error: unknown) => error instanceof PypakrError && /through the symlink/.test(error.message));
    const remove = unpack([{ name: "opt", type: "symlink", linkname: host }], [whiteout("opt/keep")]);
    await assert.rejects(remove, (error: unknown) => error instanceof PypakrError && /through the symlink/.test(error.message));
    assert.deepEqual(await fs.readdir(host), ["keep"]);
    assert.equal(await fs.readFile(path.join(host, "keep"), "utf8"), "precious");
  });

  test("still refuses names that climb out of the tree", async () => {
    await assert.rejects(unpack([{ name: "../escape", body: "x" }]), PypakrError);
  });
});
