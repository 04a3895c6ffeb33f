/**
 * The CLI turns on Node's compile cache (src/cli/entry.ts) in the user's own
 * cache directory, never under /tmp where another user could plant code, and
 * leaves it off when told to.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { CLI, makeTempDir, removeDir } from "../support/helpers.js";

let root = "";
before(async () => {
  root = await makeTempDir();
});
after(() => removeDir(root));

function runVersion(env: Record<string, string>): void {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("NODE_COMPILE_CACHE") && name !== "NODE_DISABLE_COMPILE_CACHE" && name !== "XDG_CACHE_HOME"));
  const result = spawnSync(CLI, ["--version"], { cwd: root, env: { ...base, ...env }, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^\d+\.\d+\.\d+/);
}

async function cacheEntries(dir: string): Promise<string[]> {
  return fs.readdir(path.join(dir, "pypakr", "node-compile-cache")).catch(() => []);
}

test("the compile cache goes to $XDG_CACHE_HOME/pypakr/node-compile-cache", async () => {
  const xdg = path.join(root, "xdg");
  runVersion({ XDG_CACHE_HOME: xdg, HOME: path.join(root, "home-unused") });
  assert.ok((await cacheEntries(xdg)).length > 0, "nothing was cached");
});

test("without an absolute XDG_CACHE_HOME it goes to ~/.cache, and NODE_DISABLE_COMPILE_CACHE turns it off", async () => {
  const home = path.join(root, "home");
  runVersion({ XDG_CACHE_HOME: "relative/cache", HOME: home });
  assert.ok((await cacheEntries(path.join(home, ".cache"))).length > 0, "nothing was cached under ~/.cache");
  assert.deepEqual(await fs.readdir(root).then((names) => names.filter((name) => name === "relative")), []);
  const off = path.join(root, "off");
  runVersion({ XDG_CACHE_HOME: off, HOME: path.join(root, "home-off"), NODE_DISABLE_COMPILE_CACHE: "1" });
  assert.deepEqual(await cacheEntries(off), []);
});
