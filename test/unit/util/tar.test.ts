import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { normalizeEntryName, unsafeNameReason } from "../../../src/util/tar.js";

describe("normalizeEntryName", () => {
  for (const [name, expected] of [
    ["./a//b/", "a/b"],
    ["a/./b", "a/b"],
    ["a", "a"],
    ["dir/", "dir"],
    ["", ""],
    ["./", ""],
    [".", ""],
    ["./.", ""],
    // Dots that are not a whole `..` component are ordinary names.
    ["...", "..."],
    ["a/..b/c..", "a/..b/c.."],
    [".wh..wh..opq", ".wh..wh..opq"],
    // Only a single letter before the colon looks like a drive.
    ["ab:c", "ab:c"],
    ["a/c:d", "a/c:d"],
  ] as const) {
    test(`normalizeEntryName turns ${JSON.stringify(name)} into ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(normalizeEntryName(name), { path: expected });
    });
  }

  for (const [name, reason] of [
    ["/etc/passwd", /absolute/],
    ["////x", /absolute/],
    ["/", /absolute/],
    ["C:../x", /drive letter/],
    ["c:/x", /drive letter/],
    ["a:b", /drive letter/],
    ["a/../../x", /'\.\.'/],
    ["..", /'\.\.'/],
    ["../x", /'\.\.'/],
    ["./../x", /'\.\.'/],
    ["a/..", /'\.\.'/],
    ["a/../b", /'\.\.'/],
    ["a\\b", /backslash/],
    ["..\\x", /backslash/],
    ["a\0b", /NUL/],
    ["\0", /NUL/],
  ] as const) {
    test(`normalizeEntryName refuses ${JSON.stringify(name)}`, () => {
      const result = normalizeEntryName(name);
      assert.ok("error" in result, `expected an error for ${JSON.stringify(name)}, got ${JSON.stringify(result)}`);
      assert.match(result.error, reason);
    });
  }
});

describe("unsafeNameReason", () => {
  test("unsafeNameReason accepts plain relative paths", () => {
    for (const name of ["a", "a/b/c", "./a", "a//b/", "lib/python3.11/site-packages/x.py", ".hidden", "a b"]) {
      assert.equal(unsafeNameReason(name), null, name);
    }
  });

  test("unsafeNameReason reports NUL before anything else", () => {
    // A NUL would truncate the name in C, so it is the most important thing to report.
    assert.equal(unsafeNameReason("/a\0"), "contains a NUL byte");
  });

  test("unsafeNameReason explains each kind of unsafe name", () => {
    assert.equal(unsafeNameReason("/etc/passwd"), "is an absolute path");
    assert.equal(unsafeNameReason("C:../x"), "starts with a drive letter");
    assert.equal(unsafeNameReason("a\\b"), "contains a backslash");
    assert.equal(unsafeNameReason("a/../../x"), "contains '..'");
  });
});
