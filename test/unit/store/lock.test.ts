/**
 * The store's lock (src/store/lock.ts): one holder at a time, a lock names
 * its owner, a dead owner's lock on this machine is taken over at once, one
 * from another machine only once it has gone stale, and a release never
 * removes a lock someone else holds.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { acquireLock, isLockHeld, LockTimeoutError } from "../../../src/store/lock.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

let root = "";
let cases = 0;
before(async () => {
  root = await makeTempDir();
});
after(() => removeDir(root));

/** A fresh lock path in its own directory. */
async function lockPath(): Promise<string> {
  cases += 1;
  const dir = path.join(root, `case-${cases}`);
  await fs.mkdir(dir);
  return path.join(dir, "lock");
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync("true");
  assert.ok(child.pid);
  return child.pid;
}

/** A lock left as another process leaves it: a directory holding owner.json. */
async function plantLock(lock: string, owner: { pid: number; host: string; id: string }, ageMs = 0): Promise<void> {
  await fs.mkdir(lock);
  await fs.writeFile(path.join(lock, "owner.json"), JSON.stringify(owner));
  const then = new Date(Date.now() - ageMs);
  await fs.utimes(lock, then, then);
}

const readOwner = async (lock: string) => JSON.parse(await fs.readFile(path.join(lock, "owner.json"), "utf8")) as { pid: number; host: string; id: string };

describe("acquireLock", () => {
  test("a free lock is taken at once, names this process, and is gone after release, with nothing left beside it", async () => {
    const lock = await lockPath();
    const release = await acquireLock(lock, 1000);
    const owner = await readOwner(lock);
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, os.hostname());
    assert.equal(await isLockHeld(lock), true);
    await release();
    assert.deepEqual(await fs.readdir(path.dirname(lock)), []);
    assert.equal(await isLockHeld(lock), false);
  });

  test("a live holder makes a second taker wait, then time out naming the holder", async () => {
    const lock = await lockPath();
    const release = await acquireLock(lock, 1000);
    try {
      const started = Date.now();
      await assert.rejects(acquireLock(lock, 300), (error: unknown) => {
        assert.ok(error instanceof LockTimeoutError);
        assert.match(error.message, new RegExp(`process ${process.pid} on `));
        return true;
      });
      assert.ok(Date.now() - started >= 300, "it waited the timeout out");
      assert.equal((await readOwner(lock)).pid, process.pid, "the holder's lock is untouched");
      assert.deepEqual(await fs.readdir(path.dirname(lock)), ["lock"], "the loser's staging dir is gone");
    } finally {
      await release();
    }
  });

  test("a waiting taker gets the lock as soon as the holder releases it", async () => {
    const lock = await lockPath();
    const release = await acquireLock(lock, 1000);
    const waiting = acquireLock(lock, 5000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await release();
    const second = await waiting;
    assert.equal((await readOwner(lock)).pid, process.pid);
    await second();
  });

  test("contending takers hold the lock one at a time, and every one gets it", async () => {
    const lock = await lockPath();
    let holders = 0;
    let most = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const release = await acquireLock(lock, 10_000);
        holders += 1;
        most = Math.max(most, holders);
        await new Promise((resolve) => setTimeout(resolve, 30));
        holders -= 1;
        done += 1;
        await release();
      }),
    );
    assert.equal(most, 1);
    assert.equal(done, 8);
    assert.deepEqual(await fs.readdir(path.dirname(lock)), []);
  });

  test("a lock whose owner died on this machine is taken over at once, not after the stale time", async () => {
    const lock = await lockPath();
    await plantLock(lock, { pid: deadPid(), host: os.hostname(), id: "dead-owner" });
    assert.equal(await isLockHeld(lock), false);
    const started = Date.now();
    const release = await acquireLock(lock, 5000);
    assert.ok(Date.now() - started < 2000, "taken over without waiting for staleness");
    assert.equal((await readOwner(lock)).pid, process.pid);
    await release();
    assert.deepEqual(await fs.readdir(path.dirname(lock)), [], "the dead owner's lock went too");
  });

  test("a fresh lock from another machine is respected; one it stopped refreshing is taken over", async () => {
    const fresh = await lockPath();
    await plantLock(fresh, { pid: 1, host: "elsewhere.invalid", id: "remote" });
    assert.equal(await isLockHeld(fresh), true);
    await assert.rejects(acquireLock(fresh, 200), LockTimeoutError);
    assert.equal((await readOwner(fresh)).id, "remote");

    const stale = await lockPath();
    await plantLock(stale, { pid: 1, host: "elsewhere.invalid", id: "remote" }, 60_000);
    assert.equal(await isLockHeld(stale), false);
    const release = await acquireLock(stale, 2000);
    assert.equal((await readOwner(stale)).pid, process.pid);
    await release();
  });

  test("an ownerless lock (proper-lockfile's) counts as held until it is stale", async () => {
    const lock = await lockPath();
    await fs.mkdir(lock);
    assert.equal(await isLockHeld(lock), true);
    const then = new Date(Date.now() - 60_000);
    await fs.utimes(lock, then, then);
    assert.equal(await isLockHeld(lock), false);
  });

  test("a release leaves alone a lock that was taken over from it meanwhile", async () => {
    const lock = await lockPath();
    const release = await acquireLock(lock, 1000);
    // As if this holder had been judged dead and another process took the lock.
    await fs.writeFile(path.join(lock, "owner.json"), JSON.stringify({ pid: process.pid, host: os.hostname(), id: "the-new-holder" }));
    await release();
    assert.equal((await readOwner(lock)).id, "the-new-holder");
  });

  test("what a killed taker left beside the lock (its staging dir) is removed by the next taker", async () => {
    const lock = await lockPath();
    const leftover = path.join(path.dirname(lock), `.lock.acquire-${deadPid()}-0123456789ab`);
    await fs.mkdir(leftover);
    const release = await acquireLock(lock, 1000);
    await release();
    assert.deepEqual(await fs.readdir(path.dirname(lock)), []);
  });
});
