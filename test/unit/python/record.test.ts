/** RECORD normalization: the same distribution gives the same RECORD however and wherever it was installed. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { normalizeRecord, recordPaths, resolveRecordPath } from "../../../src/python/record.js";

const RECORD = "lib/python3.11/site-packages/demo-1.0.dist-info/RECORD";

describe("normalizeRecord", () => {
  const text = [
    "demo/__init__.py,sha256=abc,10",
    "demo/__pycache__/__init__.cpython-311.pyc,,",
    "../../../bin/demo,sha256=def,200",
    "../../../bin/__pycache__/x.pyc,,",
    "demo-1.0.dist-info/REQUESTED,,",
    "demo-1.0.dist-info/direct_url.json,sha256=ghi,50",
    '"demo/a,b.txt",sha256=jkl,3',
    "demo-1.0.dist-info/RECORD,,",
    "",
  ].join("\n");

  test("drops bytecode and install-marker lines, and the hash of relocated files", () => {
    const normalized = normalizeRecord(RECORD, text, (file) => file === "bin/demo");
    assert.deepEqual(normalized.split("\n"), ["demo/__init__.py,sha256=abc,10", "../../../bin/demo,,", '"demo/a,b.txt",sha256=jkl,3', "demo-1.0.dist-info/RECORD,,", ""]);
  });

  test("a build that compiled bytecode and one that did not give the same RECORD", () => {
    const compiled = "demo/__init__.py,sha256=abc,10\ndemo/__pycache__/__init__.cpython-311.pyc,,\n";
    const plain = "demo/__init__.py,sha256=abc,10\n";
    assert.equal(normalizeRecord(RECORD, compiled, () => false), normalizeRecord(RECORD, plain, () => false));
  });

  test("returns a RECORD with nothing to change as it was (CRLF included)", () => {
    const untouched = "demo/__init__.py,sha256=abc,10\r\ndemo-1.0.dist-info/RECORD,,\r\n";
    assert.equal(normalizeRecord(RECORD, untouched, () => false), untouched);
  });

  test("reads quoted paths and resolves paths against the install root", () => {
    assert.deepEqual(recordPaths('"a,""b""",x,1\nc,,\n'), ['a,"b"', "c"]);
    assert.equal(resolveRecordPath(RECORD, "../../../bin/demo"), "bin/demo");
    assert.equal(resolveRecordPath(RECORD, "../../../../etc/passwd"), null);
  });
});
