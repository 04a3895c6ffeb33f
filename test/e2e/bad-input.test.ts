/**
 * Every bad input a user can give gets a clear error and a non-zero exit, and
 * leaves nothing behind: no temp dirs, no partial image, no partial
 * container, nothing outside the target.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import { buildJokesImage, type CliResult, expectCleanFailure, listTree, pypakr, usePrivateHome, writeExecutable } from "../support/helpers.js";
import { imageParts, writeImage, type ImageParts } from "../support/image-files.js";
import { tarOf, type TarEntry } from "../support/tar.js";

let good: string;
const own = usePrivateHome({
  setup: async () => {
    good = await buildJokesImage(own.dir, { home: own.home });
  },
});

async function assertNothingLeft(): Promise<void> {
  assert.deepEqual(await listTree(path.join(own.home, "tmp")), [], "pypakr's tmp dir is not empty");
  assert.deepEqual((await fs.readdir(own.dir)).filter((name) => name.startsWith(".")), [], "hidden temp paths beside the target");
}

describe("create-image refuses bad sources", () => {
  const image = () => path.join(own.dir, "out.tar");

  async function build(source: string): Promise<CliResult> {
    const result = await pypakr(["create-image", "-s", source, "-i", image()], { home: own.home });
    await assert.rejects(fs.access(image()), "a partial image was left");
    await assertNothingLeft();
    return result;
  }

  async function sourceDir(name: string, files: Record<string, string>): Promise<string> {
    const root = path.join(own.dir, name);
    await fs.mkdir(root, { recursive: true });
    for (const [file, content] of Object.entries(files)) await writeExecutable(path.join(root, file), content);
    return root;
  }

  test("a missing source", async () => {
    expectCleanFailure(await build(path.join(own.dir, "missing.tar")), /does not exist/);
  });

  test("a corrupt source tar", async () => {
    const file = path.join(own.dir, "corrupt.tar");
    await fs.writeFile(file, Buffer.alloc(3000, 7));
    expectCleanFailure(await build(file), /not a readable tar/);
  });

  test("a truncated .tar.gz source", async () => {
    const file = path.join(own.dir, "truncated.tar.gz");
    // Random bytes do not compress, so the cut lands inside the entry's data.
    const whole = tarOf([{ name: "setup", body: randomBytes(50_000), mode: 0o755 }], { gzip: true });
    await fs.writeFile(file, whole.subarray(0, whole.length / 2));
    expectCleanFailure(await build(file), /not a readable tar/);
  });

  test("a source tar with an entry outside its root", async () => {
    const file = path.join(own.dir, "escape.tar");
    await fs.writeFile(file, tarOf([{ name: "run", body: Buffer.from("#!/bin/sh\n"), mode: 0o755 }, { name: "../escaped", body: Buffer.from("x") }]));
    expectCleanFailure(await build(file), /\.\.\/escaped/);
    await assert.rejects(fs.access(path.join(own.home, "tmp", "escaped")));
  });

  test("a failing setup: its exit code is named, and its output shown once, whole", async () => {
    const source = await sourceDir("failing", { setup: "#!/bin/sh\necho 'first line'\necho 'the last words' >&2\nexit 3\n" });
    const result = await build(source);
    expectCleanFailure(result, /setup failed with exit code 3 \(its output is above\)/);
    assert.equal(result.stderr.split("the last words").length - 1, 1, result.stderr);
    assert.equal(result.stderr.split("first line").length - 1, 1, result.stderr);
  });

  test("a setup that is not executable", async () => {
    const source = await sourceDir("noexec", {});
    await fs.writeFile(path.join(source, "setup"), "#!/bin/sh\n", { mode: 0o644 });
    expectCleanFailure(await build(source), /setup script is not executable[\s\S]*chmod \+x setup/);
  });

  test("a source whose top level collides with the venv's own files", async () => {
    expectCleanFailure(await build(await sourceDir("collide", { "bin/tool": "#!/bin/sh\n" })), /"bin" at its top level/);
  });

  test("a source file named like an OCI whiteout", async () => {
    expectCleanFailure(await build(await sourceDir("wh", { "data/.wh.secret": "x" })), /whiteout/);
  });

  test("a setup that links outside the environment", async () => {
    expectCleanFailure(await build(await sourceDir("outlink", { setup: "#!/bin/sh\nln -s /etc/passwd passwd\n" })), /outside the environment/);
  });

  test("an image path in a missing directory", async () => {
    const result = await pypakr(["create-image", "-s", path.join(own.dir, "jokes-src"), "-i", path.join(own.dir, "no", "such", "dir", "x.tar")], { home: own.home });
    expectCleanFailure(result, /does not exist/);
    await assertNothingLeft();
  });
});

describe("create-container refuses bad images", () => {
  async function craft(name: string, change: (parts: ImageParts) => void | Promise<void>): Promise<string> {
    const parts = await imageParts(good);
    await change(parts);
    const file = path.join(own.dir, `${name}.tar`);
    await writeImage(file, parts);
    return file;
  }

  async function create(image: string): Promise<CliResult> {
    const sentinel = path.join(own.dir, "sentinel");
    await fs.writeFile(sentinel, "untouched");
    const container = path.join(own.dir, "box", "container");
    const result = await pypakr(["create-container", "-i", image, "-c", container], { home: own.home });
    await assert.rejects(fs.access(path.join(own.dir, "box")), "a partial container (or its parent) was left");
    assert.equal(await fs.readFile(sentinel, "utf8"), "untouched");
    await assertNothingLeft();
    return result;
  }

  test("a missing image file", async () => {
    expectCleanFailure(await create(path.join(own.dir, "nope.tar")), /does not exist/);
  });

  test("a file that is not an image", async () => {
    const file = path.join(own.dir, "garbage.tar");
    await fs.writeFile(file, "this is not a tar archive at all".repeat(40));
    expectCleanFailure(await create(file), /not a usable pypakr image/);
  });

  test("a tar that is not an OCI layout", async () => {
    const file = path.join(own.dir, "plain.tar");
    await fs.writeFile(file, tarOf([{ name: "hello.txt", body: Buffer.from("hi") }]));
    expectCleanFailure(await create(file), /no oci-layout/);
  });

  test("an OCI image that pypakr did not make", async () => {
    const file = await craft("foreign", (parts) => {
      delete (parts.config as Record<string, unknown>).pypakr;
    });
    expectCleanFailure(await create(file), /not one pypakr made/);
  });

  test("a blob whose content does not match its digest", async () => {
    const file = path.join(own.dir, "corrupt-blob.tar");
    const bytes = await fs.readFile(good);
    // Flip a byte inside the last blob's data (the archive ends with two zero blocks plus padding).
    const { readArchive, writeArchive } = await import("../support/image-files.js");
    const files = await readArchive(good);
    const [name, blob] = [...files].find(([entry, body]) => entry.startsWith("blobs/") && body.length > 500) ?? [];
    assert.ok(name && blob && bytes.length > 0);
    const damaged = Buffer.from(blob);
    damaged[100] = (damaged[100] ?? 0) ^ 0xff;
    files.set(name, damaged);
    await writeArchive(file, files);
    expectCleanFailure(await create(file), /is corrupt/);
  });

  test("a blob whose size differs from its descriptor", async () => {
    const parts = await imageParts(good);
    const file = path.join(own.dir, "size.tar");
    await writeImage(file, parts);
    const { readArchive, writeArchive } = await import("../support/image-files.js");
    const files = await readArchive(file);
    const index = JSON.parse((files.get("index.json") as Buffer).toString()) as { manifests: { size: number }[] };
    (index.manifests[0] as { size: number }).size += 1;
    files.set("index.json", Buffer.from(JSON.stringify(index)));
    await writeArchive(file, files);
    expectCleanFailure(await create(file), /bytes, but the image says/);
  });

  const hostileLayers: [string, TarEntry[], RegExp][] = [
    ["dot-dot", [{ name: "../sentinel", body: Buffer.from("pwned") }], /\.\.\/sentinel/],
    ["absolute", [{ name: "/tmp/pypakr-absolute-entry", body: Buffer.from("pwned") }], /absolute/],
    ["symlink-out", [{ name: "escape", type: "symlink", linkname: "../../../sentinel" }], /outside the target/],
    ["through-symlink", [{ name: "sub", type: "directory", mode: 0o755 }, { name: "link", type: "symlink", linkname: "sub" }, { name: "link/file", body: Buffer.from("x") }], /through the symlink/],
    ["hardlink-out", [{ name: "hard", type: "link", linkname: "../sentinel" }], /hard link/],
    ["device", [{ name: "dev", type: "character-device" }], /character-device/],
    ["metadata", [{ name: ".pypakr/container.json", body: Buffer.from("{}") }], /pypakr's own/],
  ];
  for (const [name, entries, message] of hostileLayers) {
    test(`a layer entry that would escape or is not allowed: ${name}`, async () => {
      const file = await craft(`hostile-${name}`, (parts) => {
        parts.layers.push(tarOf(entries, { gzip: true }));
      });
      expectCleanFailure(await create(file), message);
      await assert.rejects(fs.access("/tmp/pypakr-absolute-entry"));
    });
  }

  test("an image for another interpreter names both and the init command that fixes it", async () => {
    const file = await craft("py399", (parts) => {
      (parts.config.pypakr.python as { version: string }).version = "3.99.0";
    });
    const result = await create(file);
    expectCleanFailure(result, /needs CPython 3\.99 on linux\/\S+ \(it was built with 3\.99\.0\), and this machine has only CPython 3\.\d+\.\d+/);
    assert.match(result.stderr, /pypakr init --python python3\.99/);
  });

  test("an image for another platform", async () => {
    const file = await craft("arm", (parts) => {
      (parts.config.pypakr.python as { machine: string }).machine = "aarch64";
    });
    expectCleanFailure(await create(file), /linux\/aarch64/);
  });

  test("an image whose wheels need a newer platform than this machine", async () => {
    const file = await craft("newglibc", (parts) => {
      const distributions = parts.config.pypakr.distributions as { wheelTags: string[] }[];
      (distributions[0] as { wheelTags: string[] }).wheelTags = ["cp311-cp311-manylinux_2_999_x86_64"];
    });
    expectCleanFailure(await create(file), /manylinux_2_999[\s\S]*cannot load/);
  });

  test("a relocation table naming an unsafe path", async () => {
    const file = await craft("reloc", (parts) => {
      (parts.config.pypakr.relocation as { files: { path: string; kind: string }[] }).files.push({ path: "../x", kind: "text" });
    });
    expectCleanFailure(await create(file), /unsafe path/);
  });

  test("a manifest that is not valid JSON for its schema", async () => {
    const file = await craft("schema", (parts) => {
      (parts.manifest as Record<string, unknown>).schemaVersion = 1;
    });
    expectCleanFailure(await create(file), /manifest is malformed: schemaVersion/);
  });
});
