/**
 * The container's relocation lock (relocation-journal.ts): work under it
 * never interleaves; a holder that outlasts the wait is reported as
 * container-busy, with the fix; a lock left by a dead process stops nobody;
 * and a container with no journal and no live holder is left untouched by
 * finishRelocation (run's fast case writes nothing).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { finishRelocation, withRelocationLock } from "../../../src/container/relocation-journal.js";
import { RELOCATION_LOCK_PATH } from "../../../src/layout/index.js";
import { acquireLock } from "../../../src/store/lock.js";
import { PypakrError } from "../../../src/util/errors.js";

describe("the container's relocation lock", () => {
  let root: string;
  let containers = 0;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-relocation-lock-"));
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  async function container(): Promise<string> {
    const dir = path.join(root, `c${++containers}`);
    await fs.mkdir(path.join(dir, ".pypakr"), { recursive: true });
    return dir;
  }

  test("work under it runs one at a time, in the order the lock was taken", async () => {
    const dir = await container();
    const events: string[] = [];
    const work = (name: string) => async () => {
      events.push(`${name} begins`);
      await new Promise((resolve) => setTimeout(resolve, 150));
      events.push(`${name} ends`);
    };
    const first = withRelocationLock(dir, work("a"));
    await new Promise((resolve) => setTimeout(resolve, 30));
    await Promise.all([first, withRelocationLock(dir, work("b"))]);
    assert.deepEqual(events, ["a begins", "a ends", "b begins", "b ends"]);
    await assert.rejects(fs.access(path.join(dir, RELOCATION_LOCK_PATH)), "the lock is gone afterwards");
  });

  test("a holder that outlasts the wait: container-busy naming the container and the fix, and the work never runs", async () => {
    const dir = await container();
    const release = await acquireLock(path.join(dir, RELOCATION_LOCK_PATH), 1000);
    let ran = false;
    try {
      await assert.rejects(
        withRelocationLock(
          dir,
          () => {
            ran = true;
            return Promise.resolve();
          },
          300,
        ),
        (error: unknown) => {
          assert.ok(error instanceof PypakrError);
          assert.equal(error.code, "container-busy");
          assert.ok(error.message.includes(`another pypakr process is relocating ${dir}`), error.message);
          assert.match(error.message, new RegExp(`process ${process.pid}`));
          assert.match(error.hint ?? "", /Wait for the other pypakr relocate to finish/);
          return true;
        },
      );
    } finally {
      await release();
    }
    assert.equal(ran, false);
  });

  test("a lock left by a process that died is taken over at once", async () => {
    const dir = await container();
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const lock = path.join(dir, RELOCATION_LOCK_PATH);
    await fs.mkdir(lock);
    await fs.writeFile(path.join(lock, "owner.json"), JSON.stringify({ pid: Number(dead.stdout), host: os.hostname(), id: "dead-owner" }));
    const started = Date.now();
    assert.equal(await withRelocationLock(dir, () => Promise.resolve("done"), 5000), "done");
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  test("finishRelocation of a container with no journal and no live holder writes nothing (a read-only container runs)", async () => {
    const dir = await container();
    await fs.chmod(path.join(dir, ".pypakr"), 0o555);
    try {
      assert.equal(await finishRelocation(dir), false);
    } finally {
      await fs.chmod(path.join(dir, ".pypakr"), 0o755);
    }
    assert.deepEqual(await fs.readdir(path.join(dir, ".pypakr")), []);
  });

  test("a container pypakr cannot write into, with a journal to finish: write-failed with the fix", { skip: process.getuid?.() === 0 ? "root writes anywhere" : false }, async () => {
    const dir = await container();
    await fs.mkdir(path.join(dir, ".pypakr", "relocating"));
    await fs.chmod(path.join(dir, ".pypakr"), 0o555);
    try {
      await assert.rejects(finishRelocation(dir), (error: unknown) => {
        assert.ok(error instanceof PypakrError);
        assert.equal(error.code, "write-failed");
        assert.match(error.message, /cannot lock .* against concurrent relocation/);
        assert.match(error.hint ?? "", /as a user who may write to/);
        return true;
      });
    } finally {
      await fs.chmod(path.join(dir, ".pypakr"), 0o755);
    }
  });
});
