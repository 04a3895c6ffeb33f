import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, test } from "node:test";
import { anySiblingOwner, anyTempOwner, siblingOwner, siblingTempPath, storeTempName, storeTempOwner, tempName, tempOwner } from "../../../src/util/temp-names.js";

describe("temporary names: each form parsed back by its own parsers", () => {
  test("tempName: its stem's parser and the any-stem parser find the pid, underscores padded or not", () => {
    const name = tempName("scratch-");
    assert.equal(tempOwner(name, "scratch-"), process.pid);
    assert.equal(tempOwner(`${name}____`, "scratch-"), process.pid);
    assert.equal(tempOwner(name, "pypakr-build-"), null);
    assert.equal(anyTempOwner(`${name}__`), process.pid);
    assert.equal(anyTempOwner("scratch-12-abc"), null);
    assert.equal(anyTempOwner("notes.txt"), null);
  });

  test("siblingTempPath: beside and hidden; its target's parser gives purpose and pid, the any-target parser the pid", () => {
    const temp = siblingTempPath("/x/dir/index.json", "tmp");
    assert.equal(path.dirname(temp), "/x/dir");
    const name = path.basename(temp);
    assert.match(name, /^\.index\.json\.tmp-/);
    assert.deepEqual(siblingOwner("/x/dir/index.json")(name), { purpose: "tmp", pid: process.pid });
    assert.equal(siblingOwner("/x/dir/other.json")(name), null);
    assert.equal(anySiblingOwner(name), process.pid);
    assert.equal(anySiblingOwner("index.json"), null);
    assert.equal(siblingOwner("/x/dir/index.json")(`${name}_`), null);
  });

  test("storeTempName: pid and purpose; whatever starts with a positive pid is that process's", () => {
    assert.deepEqual(storeTempOwner(storeTempName("pull")), { pid: process.pid, purpose: "pull" });
    assert.deepEqual(storeTempOwner("123-junk"), { pid: 123, purpose: undefined });
    assert.equal(storeTempOwner("0-pull-abc"), null);
    assert.equal(storeTempOwner("pull-123"), null);
  });
});
