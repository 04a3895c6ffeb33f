/**
 * The export tests' runtime images, shown to be what those tests assume:
 * built from Debian's packages (mmdebstrap, deb.debian.org), cached between
 * runs, for the machine's Python minor version. What runs in them (their
 * Python under the probe, runImage's umoci + runc, trixie's 3.13) is shown
 * by test/integration/export.test.ts, which uses them; running them here too
 * cost the suite 25 s. All but the last test need root (CI runs as root);
 * the first run on a machine builds bookworm (~25 s).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import { makeTempDir, removeDir } from "../support/helpers.js";
import { requireRoot } from "../support/runc.js";
import { RUNTIME_PYTHON, runtimeCacheDir, runtimeImage } from "../support/runtime-images.js";
import { runToolOk } from "../support/tools.js";

/** A cache hit stats one file; a build takes tens of seconds. */
const CACHE_HIT_MS = 1_000;
const VERSION_PROGRAM = "import sys; print('said:', '%d.%d' % sys.version_info[:2])";

describe("runtime images for the export tests", { skip: requireRoot("building runtime images") }, () => {
  test("bookworm's runtime is a one-layer linux/amd64 oci-archive that skopeo reads, for the machine's Python minor version", async () => {
    const { archive, refName } = await runtimeImage("bookworm");
    assert.equal(refName, "bookworm-python3");
    assert.equal(path.dirname(archive), runtimeCacheDir());
    const inspected = JSON.parse((await runToolOk("skopeo", ["inspect", `oci-archive:${archive}`], { timeoutMs: 60_000 })).output) as { Architecture: string; Os: string; Layers: string[]; Env: string[] };
    assert.equal(inspected.Architecture, "amd64");
    assert.equal(inspected.Os, "linux");
    assert.equal(inspected.Layers.length, 1);
    assert.ok(inspected.Env.includes("LANG=C.UTF-8"), inspected.Env.join(" "));
    // The export tests export images built with the machine's python3 into bookworm's: their minor versions must agree.
    const machine = (await runToolOk("python3", ["-c", VERSION_PROGRAM], { timeoutMs: 30_000 })).output.trim();
    assert.equal(machine, `said: ${RUNTIME_PYTHON.bookworm}`, "the machine's python3 is not bookworm's minor version: the export tests' runtime needs another suite");
  });

  test("a second request for bookworm's runtime takes the cached archive, not a new build", async () => {
    const first = await runtimeImage("bookworm");
    const before = await fs.stat(first.archive);
    const started = performance.now();
    const second = await runtimeImage("bookworm");
    const took = performance.now() - started;
    const now = await fs.stat(second.archive);
    assert.equal(second.archive, first.archive);
    // A rebuild renames a new file into place: another inode, another mtime.
    assert.deepEqual([now.ino, now.mtimeMs], [before.ino, before.mtimeMs]);
    assert.ok(took < CACHE_HIT_MS, `took ${took} ms`);
  });
});

describe("runtime images without their tools", () => {
  test("without mmdebstrap, a runtime that is not cached yet fails saying what to install", async () => {
    const empty = await makeTempDir("pypakr-no-cache-");
    const saved = { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME, PATH: process.env.PATH };
    process.env.XDG_CACHE_HOME = empty;
    process.env.PATH = empty;
    try {
      await assert.rejects(runtimeImage("bookworm"), /needs mmdebstrap, mmtarfilter, which are not installed: .*apt-get install mmdebstrap`/);
      assert.deepEqual(await fs.readdir(empty), []);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await removeDir(empty);
    }
  });
});
