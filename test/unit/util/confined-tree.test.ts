/**
 * ConfinedTree (src/util/confined-tree.ts), the one door through which a
 * container is written: a write goes only into a directory the tree made
 * itself, and every name is created exclusively, so no write can follow a
 * symlink out, whatever the caller asks for.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { ConfinedTree } from "../../../src/util/confined-tree.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

let scratch = "";
let cases = 0;

before(async () => {
  scratch = await makeTempDir("pypakr-unit-confined-");
});

after(async () => {
  await removeDir(scratch);
});

interface Workspace {
  root: string;
  outside: string;
  victim: string;
  source: string;
  tree: ConfinedTree;
}

/** root/ (the tree, empty), outside/victim beside it, and a source file to link or copy from. */
async function workspace(): Promise<Workspace> {
  cases += 1;
  const dir = path.join(scratch, `case-${cases}`);
  const root = path.join(dir, "root");
  const outside = path.join(dir, "outside");
  await fs.mkdir(root, { recursive: true });
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, "victim"), "victim\n");
  await fs.writeFile(path.join(dir, "source"), "source\n");
  return { root, outside, victim: path.join(outside, "victim"), source: path.join(dir, "source"), tree: new ConfinedTree(root) };
}

function refusal(name: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${String(error)}`);
    assert.ok(error.message.includes(`"${name}"`), error.message);
    return true;
  };
}

async function assertOutsideAlone(ws: Workspace): Promise<void> {
  assert.deepEqual(await fs.readdir(ws.outside), ["victim"]);
  assert.equal(await fs.readFile(ws.victim, "utf8"), "victim\n");
}

describe("ConfinedTree", () => {
  test("ConfinedTree makes dirs, files, symlinks, hard links and copies at the root and in dirs it made", async () => {
    const ws = await workspace();
    ws.tree.mkdir("d", 0o755);
    ws.tree.mkdir("d/e", 0o700);
    ws.tree.writeFile("top", "t", 0o644);
    ws.tree.writeFile("d/e/f", Buffer.from("f"), 0o755);
    ws.tree.symlink("d/l", "e/f");
    ws.tree.link(ws.source, "d/hard");
    ws.tree.copy(ws.source, "d/e/copy", "try");
    assert.equal(await fs.readFile(path.join(ws.root, "d/l"), "utf8"), "f");
    assert.equal((await fs.stat(path.join(ws.root, "d/hard"))).ino, (await fs.stat(ws.source)).ino);
    assert.equal(await fs.readFile(path.join(ws.root, "d/e/copy"), "utf8"), "source\n");
    assert.equal((await fs.stat(path.join(ws.root, "d/e/f"))).mode & 0o777, 0o755);
    assert.equal(ws.tree.root, ws.root);
  });

  test("ConfinedTree refuses to write below a symlink it made to a directory outside", async () => {
    const ws = await workspace();
    ws.tree.symlink("esc", ws.outside);
    assert.throws(() => ws.tree.writeFile("esc/victim", "pwned", 0o644), refusal("esc/victim"));
    assert.throws(() => ws.tree.writeFile("esc/new", "pwned", 0o644), refusal("esc/new"));
    assert.throws(() => ws.tree.mkdir("esc/dir", 0o755), refusal("esc/dir"));
    assert.throws(() => ws.tree.symlink("esc/link", "x"), refusal("esc/link"));
    assert.throws(() => ws.tree.link(ws.source, "esc/hard"), refusal("esc/hard"));
    assert.throws(() => ws.tree.copy(ws.source, "esc/copy", "try"), refusal("esc/copy"));
    await assertOutsideAlone(ws);
  });

  test("ConfinedTree refuses to write into a directory it did not make, even a real one inside the tree", async () => {
    const ws = await workspace();
    await fs.mkdir(path.join(ws.root, "planted"));
    assert.throws(() => ws.tree.writeFile("planted/f", "x", 0o644), refusal("planted/f"));
    assert.throws(() => ws.tree.writeFile("missing/f", "x", 0o644), refusal("missing/f"));
    assert.deepEqual(await fs.readdir(path.join(ws.root, "planted")), []);
  });

  test("ConfinedTree refuses to write below a file it made", async () => {
    const ws = await workspace();
    ws.tree.writeFile("f", "x", 0o644);
    assert.throws(() => ws.tree.writeFile("f/g", "x", 0o644), refusal("f/g"));
  });

  for (const name of ["", ".", "..", "d/..", "d/.", "../outside/victim", "d/../../outside/new", "d/", "a\0b"]) {
    test(`ConfinedTree refuses the name ${JSON.stringify(name)}`, async () => {
      const ws = await workspace();
      ws.tree.mkdir("d", 0o755);
      assert.throws(() => ws.tree.writeFile(name, "pwned", 0o644), PypakrError);
      assert.throws(() => ws.tree.mkdir(name, 0o755), PypakrError);
      await assertOutsideAlone(ws);
    });
  }

  test("ConfinedTree creates every name exclusively: an existing symlink is never written through", async () => {
    const ws = await workspace();
    ws.tree.symlink("to-victim", ws.victim);
    ws.tree.symlink("to-new", path.join(ws.outside, "new"));
    for (const name of ["to-victim", "to-new"]) {
      assert.throws(() => ws.tree.writeFile(name, "pwned", 0o644), { code: "EEXIST" });
      assert.throws(() => ws.tree.copy(ws.source, name, "try"), { code: "EEXIST" });
      assert.throws(() => ws.tree.link(ws.source, name), { code: "EEXIST" });
      assert.throws(() => ws.tree.mkdir(name, 0o755), { code: "EEXIST" });
      assert.throws(() => ws.tree.symlink(name, "x"), { code: "EEXIST" });
    }
    await assertOutsideAlone(ws);
  });

  test("ConfinedTree never replaces a file it made", async () => {
    const ws = await workspace();
    ws.tree.writeFile("f", "first", 0o644);
    assert.throws(() => ws.tree.writeFile("f", "second", 0o644), { code: "EEXIST" });
    assert.equal(await fs.readFile(path.join(ws.root, "f"), "utf8"), "first");
  });
});
