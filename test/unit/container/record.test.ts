/**
 * A container's record (.pypakr/container.json) may come from somebody else
 * (a copied or unpacked directory): what it names as paths is held to what
 * create-container itself would accept, and older records still read.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { readContainerRecord } from "../../../src/container/record.js";
import { PypakrError } from "../../../src/util/errors.js";

const digest = `sha256:${"a".repeat(64)}`;
const python = { implementation: "cpython", version: "3.11.2", abiFlags: "", soabi: "cpython-311-x86_64-linux-gnu", os: "linux", machine: "x86_64", libc: "glibc", libcVersion: "2.36" };

function record(changes: Record<string, unknown>): Record<string, unknown> {
  return {
    formatVersion: 1,
    image: { digest, source: "app.tar" },
    base: { kind: "cpython-3.11-linux-x86_64", manifestDigest: digest, dir: "/home/u/.pypakr/bases/cpython-3.11-linux-x86_64" },
    python,
    entrypoint: ["./run"],
    environment: {},
    dir: "/srv/app",
    prompt: "app",
    created: "2026-01-01T00:00:00.000Z",
    ...changes,
  };
}

describe("readContainerRecord", () => {
  let root: string;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-record-"));
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  async function containerWith(name: string, content: Record<string, unknown>): Promise<string> {
    const dir = path.join(root, name);
    await fs.mkdir(path.join(dir, ".pypakr"), { recursive: true });
    await fs.writeFile(path.join(dir, ".pypakr", "container.json"), JSON.stringify(content));
    return dir;
  }

  test("reads a record as create-container writes it", async () => {
    const read = await readContainerRecord(await containerWith("good", record({})));
    assert.equal(read.base.kind, "cpython-3.11-linux-x86_64");
    assert.equal(read.dir, "/srv/app");
  });

  test("a record from before the rename names the base's kind as id, and still reads", async () => {
    const legacyBase = { id: "cpython-3.11-linux-x86_64", manifestDigest: digest, dir: "/home/u/.pypakr/bases/cpython-3.11-linux-x86_64" };
    const read = await readContainerRecord(await containerWith("legacy", record({ base: legacyBase })));
    assert.equal(read.base.kind, "cpython-3.11-linux-x86_64");
  });

  const hostile: Array<[string, Record<string, unknown>, RegExp]> = [
    ["a made-at path with a line break", { dir: "/srv/app\nModified: nothing" }, /dir: contains a line break/],
    ["a relative made-at path", { dir: "srv/app" }, /dir: is not an absolute path/],
    ["a made-at path that climbs", { dir: "/srv/../etc" }, /dir: climbs with \.\./],
    ["a made-at path with a shell expansion", { dir: "/srv/$(reboot)" }, /dir: contains a dollar sign/],
    ["a made-at path with a NUL", { dir: "/srv/app\0x" }, /dir: contains a NUL byte/],
    ["a prompt that is a path", { prompt: "../../etc" }, /prompt: holds a \//],
    ["a prompt with a backquote", { prompt: "`id`" }, /prompt: contains a backquote/],
    ["a base kind that is a path", { base: { kind: "../../store", manifestDigest: digest, dir: "/x" } }, /kind: must be an interpreter kind/],
  ];
  for (const [name, changes, message] of hostile) {
    test(`refuses ${name}, naming the field and the fix`, async () => {
      const dir = await containerWith(name.replace(/\W+/g, "-"), record(changes));
      await assert.rejects(readContainerRecord(dir), (error: unknown) => {
        assert.ok(error instanceof PypakrError);
        assert.equal(error.code, "container-damaged");
        assert.match(error.message, message);
        assert.match(error.hint ?? "", /create-container .*--force/);
        return true;
      });
    });
  }
});
