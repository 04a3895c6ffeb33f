/**
 * The one judgement of a symlink's text that extraction, create-image's
 * source reader and the build differ share: where it leads, or out.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { linkDestination, symlinkProblem } from "../../../../src/image/extract/index.js";

describe("linkDestination", () => {
  const cases: [string, string, string | null][] = [
    ["a", "b", "b"],
    ["d/a", "../b", "b"],
    ["d/a", "../../b", null],
    ["a", "..", null],
    ["a", "../", null],
    ["d/a", "./", "d"],
    ["a", ".", "."],
    ["d/e/a", "x/../../..", "."],
    ["d/e/a", "x/../../../..", null],
    ["a", "..b", "..b"],
  ];
  for (const [relative, link, expected] of cases) {
    test(`${relative} -> ${link} leads to ${expected ?? "outside"}`, () => {
      assert.equal(linkDestination(relative, link), expected);
    });
  }
});

describe("symlinkProblem", () => {
  test("refuses links out of the tree, to the tree itself, to themselves, and absolute ones unless allowed", () => {
    assert.match(symlinkProblem("d/a", "../../x") ?? "", /outside the target/);
    assert.match(symlinkProblem("d/a", "..") ?? "", /the target itself/);
    assert.match(symlinkProblem("d/a", "./a/") ?? "", /itself/);
    assert.match(symlinkProblem("a", "/usr/bin/python3") ?? "", /absolute path/);
    assert.equal(symlinkProblem("bin/python", "/usr/bin/python3", true), null);
    assert.match(symlinkProblem("a", "") ?? "", /empty or NUL/);
    assert.equal(symlinkProblem("bin/python3", "python"), null);
  });
});
