/**
 * The original's workflow, whole: a source tar -> image -> containers -> run.
 * Hermetic: the source installs wheels built by the test, with --no-index.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { buildJokesImage, expectOk, JOKE, listTree, makeTempDir, pypakr, removeDir, sh } from "../support/helpers.js";
import { layerEntryNames, layersContain } from "../support/image-files.js";

describe("jokes walkthrough", () => {
  let dir: string;
  let image: string;

  before(async () => {
    dir = await makeTempDir();
    image = await buildJokesImage(dir);
  });
  after(() => removeDir(dir));

  test("create-image writes an OCI archive holding one layer per distribution plus one for the rest", async () => {
    const inspected = JSON.parse(expectOk(await pypakr(["inspect", "--json", image]), "inspect").stdout) as {
      tag: string;
      layers: { holds: string }[];
      distributions: { name: string; version: string; wheelTags: string[] }[];
      entrypoint: string[];
      config: { pypakr: { python: { implementation: string } } };
    };
    assert.equal(inspected.tag, "jokes:1");
    assert.deepEqual(inspected.layers.map((layer) => layer.holds), ["jokes-cli 1.0", "jokes-core 1.0", "app files and other changes"]);
    assert.deepEqual(inspected.distributions.map((d) => d.wheelTags), [["py3-none-any"], ["py3-none-any"]]);
    assert.deepEqual(inspected.entrypoint, ["./run"]);
    assert.equal(inspected.config.pypakr.python.implementation, "cpython");
  });

  test("the image holds no bytecode and no trace of the build's work path", async () => {
    const names = await layerEntryNames(image);
    assert.ok(names.some((name) => name.endsWith("jokes_core/__init__.py")), names.join("\n"));
    assert.ok(!names.some((name) => name.includes("__pycache__")), "bytecode in a layer");
    assert.equal(await layersContain(image, "pypakr-build-"), false);
    assert.equal(await layersContain(image, "pypakr-placeholder-prefix"), true, "relocated files carry the placeholder");
  });

  test("run prints from both packages, passes arguments, and works from a console script", async () => {
    const container = path.join(dir, "c-run");
    expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");
    const ran = expectOk(await pypakr(["run", "-c", container, "-r", "./run", "--", "one", "two words"]), "run");
    assert.equal(ran.stdout, `${JOKE}\nargs: one two words\n`);
    const direct = sh(`'${container}/bin/joke' x`);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(direct.stdout, `${JOKE}\nargs: x\n`);
    const defaulted = expectOk(await pypakr(["run", "-c", container]), "run with the default entry point");
    assert.ok(defaulted.stdout.startsWith(JOKE));
  });

  test("every activate script names the container, and sourcing activate gives its python", async () => {
    const container = path.join(dir, "c-activate");
    expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");
    for (const script of ["activate", "activate.csh", "activate.fish", "Activate.ps1"]) {
      const text = await fs.readFile(path.join(container, "bin", script), "utf8").catch(() => "");
      if (script === "Activate.ps1" && !text.includes("VIRTUAL_ENV")) continue;
      assert.ok(!text.includes("pypakr-build-") && !text.includes("pypakr-placeholder"), `${script} still names the build`);
    }
    assert.match(await fs.readFile(path.join(container, "bin", "activate"), "utf8"), new RegExp(`VIRTUAL_ENV="?${container}"?`));
    const activated = sh(`. '${container}/bin/activate' && python -c 'import sys, jokes_core; print(sys.prefix); print(jokes_core.__file__)'`, { cwd: "/" });
    assert.equal(activated.code, 0, activated.stderr);
    const [prefix, module] = activated.stdout.trim().split("\n");
    assert.equal(prefix, container);
    assert.ok(module?.startsWith(container), module);
    const cfg = await fs.readFile(path.join(container, "pyvenv.cfg"), "utf8");
    assert.match(cfg, /^home = /m);
    assert.ok(!cfg.includes("bases/"), "pyvenv.cfg still names the base");
    const record = JSON.parse(await fs.readFile(path.join(container, ".pypakr", "container.json"), "utf8")) as { entrypoint: string[] };
    assert.deepEqual(record.entrypoint, ["./run"]);
  });

  test("two containers from one image at different paths are independent: deleting one leaves the other working", async () => {
    const first = path.join(dir, "a", "first");
    const second = path.join(dir, "a much longer", "path for the second container");
    expectOk(await pypakr(["create-container", "-i", image, "-c", first]), "first");
    expectOk(await pypakr(["create-container", "-i", image, "-c", second]), "second");
    const script = await fs.readFile(path.join(second, "bin", "joke"), "utf8");
    assert.ok(script.includes(second), "the second container's script names the second path");
    // Replacing a file (as pip and most editors do: write a new file, rename it over) touches one container only,
    // even where the default link mode shares unchanged files between containers.
    const module = path.join(first, "lib", "python3.11", "site-packages", "jokes_core", "__init__.py");
    await fs.writeFile(`${module}.new`, "JOKES = ['changed']\n");
    await fs.rename(`${module}.new`, module);
    assert.equal(sh(`'${first}/bin/joke'`).stdout.split("\n")[0], "changed");
    assert.equal(sh(`'${second}/bin/joke'`).stdout.split("\n")[0], JOKE, "changing one container changed the other");
    await removeDir(first);
    const afterDelete = expectOk(await pypakr(["run", "-c", second]), "run after deleting the first");
    assert.ok(afterDelete.stdout.startsWith(JOKE));
  });

  test("with --link copy, even an edit in place stays in its container", async () => {
    const edited = path.join(dir, "c-copy-edited");
    const other = path.join(dir, "c-copy-other");
    expectOk(await pypakr(["create-container", "-i", image, "-c", edited, "--link", "copy"]), "create-container --link copy");
    expectOk(await pypakr(["create-container", "-i", image, "-c", other]), "create-container");
    await fs.appendFile(path.join(edited, "lib", "python3.11", "site-packages", "jokes_core", "__init__.py"), "JOKES[0] = 'edited'\n");
    assert.equal(sh(`'${edited}/bin/joke'`).stdout.split("\n")[0], "edited");
    assert.equal(sh(`'${other}/bin/joke'`).stdout.split("\n")[0], JOKE);
  });

  test("a container is independent of the image file and of where the image was built", async () => {
    const copy = path.join(dir, "moved-image.tar");
    await fs.copyFile(image, copy);
    const container = path.join(dir, "c-moved");
    expectOk(await pypakr(["create-container", "-i", copy, "-c", container]), "create-container");
    await fs.rm(copy);
    assert.ok(expectOk(await pypakr(["run", "-c", container]), "run").stdout.startsWith(JOKE));
  });

  test("create-container refuses a non-empty directory; --force replaces an old container whole, never other files", async () => {
    const container = path.join(dir, "c-force");
    await fs.mkdir(container);
    await fs.writeFile(path.join(container, "keep.txt"), "mine");
    for (const force of [[], ["--force"]]) {
      const refused = await pypakr(["create-container", "-i", image, "-c", container, ...force]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /not empty, and is not a pypakr container/);
      assert.deepEqual(await fs.readdir(container), ["keep.txt"]);
    }
    await fs.rm(path.join(container, "keep.txt"));
    expectOk(await pypakr(["create-container", "-i", image, "-c", container]), "create-container");
    await fs.writeFile(path.join(container, "keep.txt"), "left in the old container");
    const refused = await pypakr(["create-container", "-i", image, "-c", container]);
    assert.match(refused.stderr, /not empty/);
    assert.match(refused.stderr, /--force/);
    expectOk(await pypakr(["create-container", "-i", image, "-c", container, "--force"]), "create-container --force");
    assert.ok(!(await listTree(container)).includes("keep.txt"));
    assert.ok(expectOk(await pypakr(["run", "-c", container]), "run").stdout.startsWith(JOKE));
    assert.deepEqual((await fs.readdir(dir)).filter((name) => name.startsWith(".")), [], "temporary paths were left beside the container");
  });

  test("a directory source and a .tar.gz source build images too", async () => {
    const source = path.join(dir, "jokes-src");
    const fromDir = path.join(dir, "from-dir.tar");
    expectOk(await pypakr(["create-image", "-s", source, "-i", fromDir]), "create-image from a directory");
    const gz = path.join(dir, "jokes.tar.gz");
    sh(`tar -czf '${gz}' -C '${dir}' jokes-src`);
    const fromGz = path.join(dir, "from-gz.tar");
    expectOk(await pypakr(["create-image", "-s", gz, "-i", fromGz]), "create-image from a .tar.gz with a top-level directory");
    for (const built of [fromDir, fromGz]) {
      const container = path.join(dir, `c-${path.basename(built, ".tar")}`);
      expectOk(await pypakr(["create-container", "-i", built, "-c", container]), "create-container");
      assert.ok(expectOk(await pypakr(["run", "-c", container]), "run").stdout.startsWith(JOKE));
      assert.ok((await fs.readdir(container)).includes("README.txt"), "app files are in the container's root");
    }
  });
});
