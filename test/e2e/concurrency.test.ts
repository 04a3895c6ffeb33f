/**
 * Several pypakr processes on one store at once: each succeeds or fails with
 * a clear message, and the store verifies clean afterwards.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { buildJokesImage, CLI, cliEnv, expectOk, JOKE, makeTempDir, privateHome, pypakr, removeDir } from "../support/helpers.js";

let dir: string;
let home: string;
let image: string;

before(async () => {
  dir = await makeTempDir();
  home = await privateHome(dir);
  image = await buildJokesImage(dir, { home });
});
after(() => removeDir(dir));

test("create-container, load, rmi and gc running together leave a clean store and working containers", { timeout: 300_000 }, async () => {
  expectOk(await pypakr(["load", "-i", image, "-t", "doomed:1"], { home }), "load");
  const jobs = [
    ...[1, 2, 3, 4].map((n) => pypakr(["create-container", "-i", n % 2 === 0 ? image : "jokes:1", "-c", path.join(dir, `c${n}`)], { home })),
    pypakr(["load", "-i", image, "-t", "again:1"], { home }),
    pypakr(["rmi", "doomed:1"], { home }),
    pypakr(["gc"], { home }),
    pypakr(["gc"], { home }),
  ];
  const results = await Promise.all(jobs);
  results.forEach((result, index) => assert.equal(result.code, 0, `job ${index}: ${result.stderr}`));
  for (const n of [1, 2, 3, 4]) {
    assert.ok(expectOk(await pypakr(["run", "-c", path.join(dir, `c${n}`)], { home }), "run").stdout.startsWith(JOKE));
  }
  const verified = expectOk(await pypakr(["store", "verify"], { home }), "store verify");
  assert.match(verified.stdout, /the store is clean/);
  const tags = (JSON.parse(expectOk(await pypakr(["images", "--json"], { home }), "images").stdout) as { tags: string[] }[]).flatMap((listed) => listed.tags).sort();
  assert.deepEqual(tags, ["again:1", "jokes:1"]);
});

test("a pypakr killed mid-way leaves the store clean and the target absent or whole", { timeout: 300_000 }, async () => {
  const scratch = path.join(dir, "kill-home");
  await fs.mkdir(scratch, { recursive: true });
  await fs.symlink(path.join(home, "bases"), path.join(scratch, "bases"));
  for (const [index, delay] of [40, 80, 120, 160, 200, 260, 320, 400].entries()) {
    const container = path.join(dir, `killed-${index}`);
    const args = index % 2 === 0 ? ["load", "-i", image, "-t", `k:${index}`] : ["create-container", "-i", image, "-c", container];
    const child = spawn(CLI, args, { env: cliEnv({ home: scratch }), stdio: "ignore" });
    const exited = new Promise((resolve) => child.on("close", resolve));
    await new Promise((resolve) => setTimeout(resolve, delay));
    child.kill("SIGKILL");
    await exited;
    // The container is absent or complete, never half made.
    const record = await fs.readFile(path.join(container, ".pypakr", "container.json"), "utf8").catch(() => null);
    const present = await fs.access(container).then(() => true, () => false);
    assert.ok(!present || record !== null, `a half-made container at ${container}`);
    expectOk(await pypakr(["store", "verify"], { home: scratch }), `store verify after killing ${args[0]} at ${delay} ms`);
  }
  expectOk(await pypakr(["create-container", "-i", image, "-c", path.join(dir, "after-kills"), "--force"], { home: scratch }), "create-container after the kills");
  expectOk(await pypakr(["load", "-i", image, "-t", "after:1"], { home: scratch }), "load after the kills");
  expectOk(await pypakr(["store", "verify"], { home: scratch }), "store verify at the end");
});
