/**
 * What pypakr says when something is off: unknown commands, images that are
 * not there, images containers use, another Python, a failed install, and
 * counts of one.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { buildJokesImage, expectCleanFailure, expectOk, JOKE, makeTempDir, makeWheel, privateHome, pypakr, removeDir, writeExecutable } from "../support/helpers.js";
import { imageParts, writeImage } from "../support/image-files.js";

let dir: string;
let home: string;
let image: string;

before(async () => {
  dir = await makeTempDir();
  home = await privateHome(dir);
  image = await buildJokesImage(dir, { home });
});
after(() => removeDir(dir));

const run = (args: string[]) => pypakr(args, { home });

function occurrences(text: string, word: string): number {
  return text.split(word).length - 1;
}

describe("unknown commands", () => {
  for (const args of [["help", "nosuch"], ["nosuch"]]) {
    test(`pypakr ${args.join(" ")} says the command is unknown, prints no help, and exits 2`, async () => {
      const result = await run(args);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^pypakr: error: unknown command 'nosuch'\n/);
      assert.doesNotMatch(result.stderr, /Commands:|Did you mean/);
      assert.equal(result.stdout, "");
    });
  }

  for (const args of [["help", "creat-image"], ["creat-image"]]) {
    test(`pypakr ${args.join(" ")} suggests create-image`, async () => {
      const result = await run(args);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /unknown command 'creat-image'\n\(Did you mean create-image\?\)/);
    });
  }

  test("pypakr help COMMAND still prints that command's help, and pypakr help the overview", async () => {
    assert.match(expectOk(await run(["help", "rmi"]), "help rmi").stdout, /^Usage: pypakr rmi \[options\] <IMAGE\.\.\.>/);
    assert.match(expectOk(await run(["help"]), "help").stdout, /- create-image {6}- /);
  });
});

describe("rmi", () => {
  test("an image that is not stored: rmi and save name the store only, never a file path", async () => {
    for (const args of [["rmi", "nosuch:1"], ["save", "nosuch:1", "-o", path.join(dir, "x.tar")], ["rmi", `sha256:${"0".repeat(64)}`]]) {
      const result = await run(args);
      expectCleanFailure(result, /no image \S+ in the store\n/);
      assert.doesNotMatch(result.stderr, /file/, result.stderr);
      assert.match(result.stderr, /hint: pypakr images lists the stored images/);
    }
    // create-container takes files too, so there the hint says so.
    expectCleanFailure(await run(["create-container", "-i", "nosuch:1", "-c", path.join(dir, "never")]), /no image "nosuch:1" in the store, and no file by that name[\s\S]*path of an image file/);
  });

  test("as docker rmi: an image containers use is refused by tag and by digest alike, and both change nothing", async () => {
    const scratch = path.join(dir, "rmi-home");
    const opts = { home: scratch };
    await fs.mkdir(scratch);
    await fs.symlink(path.join(home, "bases"), path.join(scratch, "bases"));
    expectOk(await pypakr(["load", "-i", image, "-t", "used:1"], opts), "load");
    const container = path.join(dir, "rmi-container");
    expectOk(await pypakr(["create-container", "-i", "used:1", "-c", container], opts), "create-container");
    const digest = (JSON.parse(expectOk(await pypakr(["images", "--json"], opts), "images").stdout) as { digest: string }[])[0]?.digest ?? "";
    for (const ref of ["used:1", digest, digest.slice(7), digest.slice(7, 19)]) {
      const result = await pypakr(["rmi", ref], opts);
      assert.equal(result.code, 1, `rmi ${ref}`);
      assert.match(result.stderr, new RegExp(`pypakr: error: image ${ref} is used by 1 container \\(${container}\\); nothing was removed for it\\n`));
      assert.match(result.stderr, /hint: Remove those containers first, or pass --force/);
      assert.doesNotMatch(result.stdout, /Untagged|Freed/);
      const listed = JSON.parse(expectOk(await pypakr(["images", "--json"], opts), "images").stdout) as { tags: string[] }[];
      assert.deepEqual(listed.map((entry) => entry.tags), [["used:1"]], `after rmi ${ref}`);
    }

    // Untagging while another tag still names the image is fine.
    expectOk(await pypakr(["load", "-i", image, "-t", "other:2"], opts), "load another tag");
    const untagged = expectOk(await pypakr(["rmi", "other:2"], opts), "rmi of a second tag");
    assert.match(untagged.stdout, /^Untagged: other:2\nFreed 0 B\n$/);

    // --force removes it; the container keeps its files and still runs.
    const forced = expectOk(await pypakr(["rmi", "-f", "used:1"], opts), "rmi -f");
    assert.match(forced.stdout, new RegExp(`Untagged: used:1\\nDeleted: ${digest}\\n`));
    assert.equal(expectOk(await pypakr(["run", "-c", container], opts), "run").stdout, `${JOKE}\nargs: \n`);
  });
});

describe("another Python", () => {
  async function withPython(name: string, version: string): Promise<string> {
    const parts = await imageParts(image);
    (parts.config.pypakr.python as { version: string }).version = version;
    const file = path.join(dir, name);
    await writeImage(file, parts);
    return file;
  }

  test("an image built with another patch release of the same Python runs, with a line saying so", async () => {
    const file = await withPython("patch.tar", "3.11.99");
    const container = path.join(dir, "patch-container");
    const made = expectOk(await run(["create-container", "-i", file, "-c", container]), "create-container");
    assert.match(made.stderr, /^pypakr: the image was built with CPython 3\.11\.99; using this machine's 3\.11\.\d+ \(same 3\.11 ABI\)$/m);
    assert.equal(expectOk(await run(["run", "-c", container]), "run").stdout, `${JOKE}\nargs: \n`);
    assert.match(expectOk(await run(["inspect", file]), "inspect").stdout, /^Needs: +base cpython-3\.11-linux-\S+, any patch release \(built with CPython 3\.11\.99 /m);
  });

  test("another minor version is refused once, naming the image's Python and this machine's once each, and the fix", async () => {
    const file = await withPython("minor.tar", "3.99.1");
    const result = await run(["create-container", "-i", file, "-c", path.join(dir, "never")]);
    expectCleanFailure(result, /^pypakr: error: the image needs CPython 3\.99 on linux\/\S+ \(it was built with 3\.99\.1\), and this machine has only CPython 3\.\d+\.\d+ on linux\/\S+ \(a base, and the default interpreter \/\S+\)\n/);
    assert.match(result.stderr, /hint: Install CPython 3\.99 on linux\/\S+ \(any 3\.99 release\), then run: pypakr init --python python3\.99\n$/);
    const machine = /only (CPython \S+)/.exec(result.stderr)?.[1] ?? "";
    assert.equal(occurrences(result.stderr, machine), 1, result.stderr);
    assert.equal(occurrences(result.stderr, "3.99.1"), 1, result.stderr);
    assert.equal(occurrences(result.stderr, "pypakr: error:"), 1, result.stderr);
    await assert.rejects(fs.access(path.join(dir, "never")));
  });
});

describe("builds", () => {
  test("a failed pip install shows pip's output once, whole, and names the step that failed", async () => {
    const source = path.join(dir, "failing-pip");
    await writeExecutable(path.join(source, "setup"), "#!/bin/sh\npip install --no-index nosuch-distribution-for-pypakr\n");
    const result = await run(["create-image", "-s", source, "-i", path.join(dir, "never.tar")]);
    expectCleanFailure(result, /pypakr: error: setup failed with exit code 1 \(its output is above\)\n/);
    assert.equal(occurrences(result.stderr, "No matching distribution found for nosuch-distribution-for-pypakr"), 1, result.stderr);
    assert.equal(occurrences(result.stderr, "Could not find a version that satisfies the requirement"), 1, result.stderr);
  });

  test("counts of one are singular: 1 distribution, and so on", async () => {
    const source = path.join(dir, "one-dist");
    makeWheel(path.join(source, "packages"), { name: "single", files: { "single/__init__.py": "X = 1\n" } });
    await fs.writeFile(path.join(source, "requirements.txt"), "--no-index\n--find-links packages\nsingle\n");
    const built = expectOk(await run(["create-image", "-s", source, "-i", path.join(dir, "one.tar")]), "create-image");
    assert.match(built.stderr, /pypakr: writing 2 layers\n/);
    assert.match(built.stderr, /, 2 layers, 1 distribution\) sha256:/);
    assert.doesNotMatch(built.stderr, /\b1 (distributions|layers|files|images|containers|blobs|entries)\b/);
  });
});
