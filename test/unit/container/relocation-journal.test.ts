/**
 * Relocation's last phase (finishJournal in src/container/relocation-journal.ts), which
 * `pypakr run` also runs: a committed journal's staged files are renamed
 * into place, in order, once, and the journal goes; a journal that is
 * damaged, or names a path outside the container or through a symlink, is
 * refused and nothing outside is touched. Also: whether a container is
 * where it was made.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { ContainerRecord } from "../../../src/container/record.js";
import { confinedPath, finishJournal, movedError, movedFrom } from "../../../src/container/relocation-journal.js";
import { JOURNAL_NAME, RELOCATION_JOURNAL_PATH } from "../../../src/layout/index.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

let root = "";
let cases = 0;
before(async () => {
  root = await makeTempDir();
});
after(() => removeDir(root));

/** A container dir holding `files`, with `.pypakr/`, and a `victim` file beside it that nothing may change. */
async function container(files: Record<string, string> = {}): Promise<{ dir: string; victim: string }> {
  cases += 1;
  const caseDir = path.join(root, `case-${cases}`);
  const dir = path.join(caseDir, "container");
  await fs.mkdir(path.join(dir, ".pypakr"), { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
  const victim = path.join(caseDir, "victim");
  await fs.writeFile(victim, "untouched\n");
  return { dir, victim };
}

/** A committed journal: each staged file (name -> content) goes to its path. */
async function writeJournal(dir: string, files: { staged: string; path: string; content?: string }[], from = "/old/place"): Promise<string> {
  const journalDir = path.join(dir, RELOCATION_JOURNAL_PATH);
  await fs.mkdir(journalDir, { recursive: true });
  for (const file of files) if (file.content !== undefined) await fs.writeFile(path.join(journalDir, file.staged), file.content);
  await fs.writeFile(path.join(journalDir, JOURNAL_NAME), JSON.stringify({ formatVersion: 1, from, to: dir, files: files.map(({ staged, path }) => ({ staged, path })) }));
  return journalDir;
}

const exists = (file: string) =>
  fs.access(file).then(
    () => true,
    () => false,
  );

function damaged(error: unknown): true {
  assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${String(error)}`);
  assert.equal(error.code, "container-damaged");
  assert.ok(error.hint);
  return true;
}

describe("finishJournal", () => {
  test("without a journal there is nothing to finish", async () => {
    const { dir } = await container({ "bin/activate": "old" });
    assert.equal(await finishJournal(dir, { resuming: false }), false);
    assert.equal(await fs.readFile(path.join(dir, "bin/activate"), "utf8"), "old");
  });

  test("renames every staged file into place, record last, then removes the journal", async () => {
    const { dir } = await container({ "bin/activate": "old activate", "lib/site.py": "old site", ".pypakr/container.json": "old record" });
    const journalDir = await writeJournal(dir, [
      { staged: "0", path: "bin/activate", content: "new activate" },
      { staged: "1", path: "lib/site.py", content: "new site" },
      { staged: "record", path: ".pypakr/container.json", content: "new record" },
    ]);
    assert.equal(await finishJournal(dir, { resuming: false }), true);
    assert.equal(await fs.readFile(path.join(dir, "bin/activate"), "utf8"), "new activate");
    assert.equal(await fs.readFile(path.join(dir, "lib/site.py"), "utf8"), "new site");
    assert.equal(await fs.readFile(path.join(dir, ".pypakr/container.json"), "utf8"), "new record");
    assert.equal(await exists(journalDir), false);
    assert.equal(await finishJournal(dir, { resuming: false }), false, "finishing twice does nothing more");
  });

  test("a staged file already renamed before an interruption is skipped, the rest are finished", async () => {
    const { dir } = await container({ "a.txt": "already new", "b.txt": "old b" });
    await writeJournal(dir, [
      { staged: "0", path: "a.txt" },
      { staged: "1", path: "b.txt", content: "new b" },
    ]);
    assert.equal(await finishJournal(dir, { resuming: false }), true);
    assert.equal(await fs.readFile(path.join(dir, "a.txt"), "utf8"), "already new");
    assert.equal(await fs.readFile(path.join(dir, "b.txt"), "utf8"), "new b");
  });

  test("a journal naming a path outside the container, or through a symlink out, is refused and nothing outside changes", async () => {
    for (const target of ["../victim", "/tmp/victim", "out/victim", "a/./b"]) {
      const { dir, victim } = await container();
      await fs.symlink(path.dirname(victim), path.join(dir, "out"));
      await writeJournal(dir, [{ staged: "0", path: target, content: "pwned" }]);
      await assert.rejects(finishJournal(dir, { resuming: false }), damaged);
      assert.equal(await fs.readFile(victim, "utf8"), "untouched\n", `through ${target}`);
    }
  });

  test("a damaged or missing journal file is refused as a damaged container", async () => {
    const { dir } = await container();
    const journalDir = path.join(dir, RELOCATION_JOURNAL_PATH);
    await fs.mkdir(journalDir);
    await assert.rejects(finishJournal(dir, { resuming: false }), damaged);
    await fs.writeFile(path.join(journalDir, JOURNAL_NAME), JSON.stringify({ formatVersion: 1, from: "/a", to: "/b", files: [{ staged: "../../x", path: "x" }] }));
    await assert.rejects(finishJournal(dir, { resuming: false }), damaged);
  });

  test("a .pypakr that is a symlink brings no journal from elsewhere", async () => {
    cases += 1;
    const dir = path.join(root, `case-${cases}`, "container");
    const elsewhere = path.join(root, `case-${cases}`, "elsewhere");
    await fs.mkdir(dir, { recursive: true });
    await writeJournal(elsewhere, [{ staged: "0", path: "planted", content: "from elsewhere" }]);
    await fs.symlink(path.join(elsewhere, ".pypakr"), path.join(dir, ".pypakr"));
    assert.equal(await finishJournal(dir, { resuming: false }), false);
    assert.equal(await exists(path.join(dir, "planted")), false);
  });
});

describe("confinedPath", () => {
  test("only plain relative paths whose every parent is a real directory", async () => {
    const { dir } = await container({ "lib/a.py": "" });
    await fs.symlink("lib", path.join(dir, "link"));
    assert.equal(confinedPath(dir, "lib/a.py"), path.join(dir, "lib/a.py"));
    assert.equal(confinedPath(dir, "new.txt"), path.join(dir, "new.txt"));
    for (const bad of ["", "/etc/passwd", "../x", "lib/../x", "lib/./a.py", "lib//a.py", "link/a.py", "missing/a.py", "lib/a.py/x", "a\0b"]) {
      assert.equal(confinedPath(dir, bad), null, JSON.stringify(bad));
    }
  });
});

describe("movedFrom", () => {
  const recordAt = (dir: string | undefined) => ({ dir }) as unknown as ContainerRecord;

  test("null where the container was made (through symlinks too) or for a record too old to say; else where it was made", async () => {
    const { dir } = await container();
    const alias = path.join(path.dirname(dir), "alias");
    await fs.symlink(dir, alias);
    assert.equal(await movedFrom(dir, recordAt(dir)), null);
    assert.equal(await movedFrom(alias, recordAt(dir)), null);
    assert.equal(await movedFrom(dir, recordAt(undefined)), null);
    assert.equal(await movedFrom(dir, recordAt("/gone/place")), "/gone/place");
  });

  test("the moved error names both paths and the relocate command, quoted for the shell", () => {
    const error = movedError("/new place/app", "/old/app");
    assert.equal(error.code, "container-moved");
    assert.match(error.message, /made at \/old\/app/);
    assert.equal(error.hint, "Rewrite it for its new path: pypakr relocate -c '/new place/app'");
  });
});
