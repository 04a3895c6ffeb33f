/**
 * The export tests' support, shown to work on its own: runtime images built
 * from Debian's packages (mmdebstrap, deb.debian.org) and cached between
 * runs, and runImage's umoci + runc, whose app answers on the host's
 * loopback. All but the last test need root (CI runs as root); the first run
 * on a machine builds bookworm (~25 s) and, for its test alone, trixie (~25 s).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { freePort, makeTempDir, removeDir } from "../support/helpers.js";
import { requireRoot, runImage, waitForHttp, type RunningImage } from "../support/runc.js";
import { RUNTIME_PYTHON, runtimeCacheDir, runtimeImage } from "../support/runtime-images.js";
import { processInfo, until } from "../support/serve-gateway.js";
import { runToolOk } from "../support/tools.js";

const START_MS = 30_000;
const NONROOT = { uid: 65532, gid: 65532 };
/** A cache hit stats one file; a build takes tens of seconds. */
const CACHE_HIT_MS = 1_000;
const VERSION_PROGRAM = "import sys; print('said:', '%d.%d' % sys.version_info[:2])";

const containers: RunningImage[] = [];
after(async () => {
  for (const container of containers) await container.stop();
});

/** Runs `program` with the suite's python3 and returns what it printed (the container exits by itself). */
async function pythonSays(suite: "bookworm" | "trixie", program: string): Promise<string> {
  const { archive, refName } = await runtimeImage(suite);
  const container = await runImage(archive, refName, { name: `py-${suite}`, port: await freePort(), args: ["/usr/bin/python3", "-c", program], user: NONROOT });
  containers.push(container);
  const said = await until(`${suite}'s python3 output`, START_MS, () => /^said: (.*)$/m.exec(container.logs())?.[1]);
  await container.stop();
  return said;
}

describe("runtime images for the export tests, run with umoci and runc", { skip: requireRoot("building and running runtime images") }, () => {
  test("bookworm's runtime is a one-layer linux/amd64 oci-archive that skopeo reads, with Python 3.11", async () => {
    const { archive, refName } = await runtimeImage("bookworm");
    assert.equal(refName, "bookworm-python3");
    assert.equal(path.dirname(archive), runtimeCacheDir());
    const inspected = JSON.parse((await runToolOk("skopeo", ["inspect", `oci-archive:${archive}`], { timeoutMs: 60_000 })).output) as { Architecture: string; Os: string; Layers: string[]; Env: string[] };
    assert.equal(inspected.Architecture, "amd64");
    assert.equal(inspected.Os, "linux");
    assert.equal(inspected.Layers.length, 1);
    assert.ok(inspected.Env.includes("LANG=C.UTF-8"), inspected.Env.join(" "));
    assert.equal(await pythonSays("bookworm", VERSION_PROGRAM), RUNTIME_PYTHON.bookworm);
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

  test("runImage runs python3 -m http.server of an image with zstd layers as uid 65532, given PORT, and it answers HTTP on the host's loopback", async () => {
    const { archive, refName } = await runtimeImage("bookworm");
    // zstd, as pypakr writes layers by default: Debian's umoci cannot unpack it as it is.
    const dir = await makeTempDir("pypakr-zstd-runtime-");
    after(() => removeDir(dir));
    const zstdArchive = path.join(dir, "zstd.oci.tar");
    await runToolOk("skopeo", ["copy", "--quiet", "--dest-compress-format", "zstd", `oci-archive:${archive}:${refName}`, `oci-archive:${zstdArchive}:${refName}`], { timeoutMs: 60_000 });
    const inspected = JSON.parse((await runToolOk("skopeo", ["inspect", "--raw", `oci-archive:${zstdArchive}`], { timeoutMs: 60_000 })).output) as { layers: { mediaType: string }[] };
    assert.deepEqual(
      inspected.layers.map((layer) => layer.mediaType),
      ["application/vnd.oci.image.layer.v1.tar+zstd"],
    );
    const port = await freePort();
    const container = await runImage(zstdArchive, refName, {
      name: "http-server",
      port,
      user: NONROOT,
      env: { GREETING: "hello" },
      // The shell (dash, from the image) reads PORT and GREETING from the environment runImage gives.
      args: ["/bin/sh", "-c", 'cd /tmp && echo "$GREETING" > index.html && exec python3 -m http.server --bind 127.0.0.1 "$PORT"'],
    });
    containers.push(container);
    const answer = await waitForHttp(`http://127.0.0.1:${port}/`, START_MS, () => container.logs());
    assert.equal(answer.status, 200);
    assert.equal(answer.text, "hello\n");
    const info = await processInfo(container.pid);
    assert.deepEqual(info?.uids, [NONROOT.uid, NONROOT.uid, NONROOT.uid, NONROOT.uid]);
    assert.deepEqual(info?.argv.slice(1, 3), ["-m", "http.server"]);
    await container.stop();
    const gone = await runToolOk("runc", ["list", "--quiet"], { timeoutMs: 30_000 });
    assert.ok(!gone.output.split("\n").includes(container.id), "runc still lists the container after stop()");
  });

  test("trixie's runtime, the mismatch test's twin, has Python 3.13", async () => {
    assert.equal(await pythonSays("trixie", VERSION_PROGRAM), RUNTIME_PYTHON.trixie);
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
