import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { headerValues, normalizedName } from "../../../src/builder/layers.js";
import { recordPaths } from "../../../src/python/record.js";

describe("recordPaths", () => {
  test("recordPaths takes the first field of plain RECORD lines", () => {
    const record = [
      "jokes/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0",
      "jokes-1.0.dist-info/METADATA,sha256=abc,120",
      "jokes-1.0.dist-info/RECORD,,",
      "../../../bin/joke,sha256=def,200",
      "",
    ].join("\n");
    assert.deepEqual(recordPaths(record), ["jokes/__init__.py", "jokes-1.0.dist-info/METADATA", "jokes-1.0.dist-info/RECORD", "../../../bin/joke"]);
  });

  test("recordPaths reads quoted paths holding commas and doubled quotes", () => {
    const record = ['"pkg/a,b.py",sha256=x,1', '"pkg/say ""hi"".txt",sha256=y,2', '"pkg/plain.py",,', '"pkg/,""both"",.py",,'].join("\n");
    assert.deepEqual(recordPaths(record), ["pkg/a,b.py", 'pkg/say "hi".txt', "pkg/plain.py", 'pkg/,"both",.py']);
  });

  test("recordPaths skips blank lines and reads CRLF files", () => {
    assert.deepEqual(recordPaths("\r\na.py,,\r\n\r\n\nb.py,sha256=x,3\r\n\r\n"), ["a.py", "b.py"]);
  });

  test("recordPaths drops lines with an empty first field", () => {
    assert.deepEqual(recordPaths(',sha256=x,1\n"",,\na.py,,\n'), ["a.py"]);
  });

  test("recordPaths returns nothing for an empty RECORD", () => {
    assert.deepEqual(recordPaths(""), []);
  });
});

describe("headerValues", () => {
  const metadata = [
    "Metadata-Version: 2.1",
    "Name: Jokes_CLI",
    "Version: 1.0",
    "Summary:   tells jokes   ",
    "Requires-Dist: jokes-core",
    "Requires-Dist: colorama ; extra == 'color'",
    "",
    "Name: not-a-header",
    "Version: 9.9",
  ].join("\n");

  test("headerValues reads a header's value", () => {
    assert.deepEqual(headerValues(metadata, "Name"), ["Jokes_CLI"]);
    assert.deepEqual(headerValues(metadata, "Version"), ["1.0"]);
  });

  test("headerValues stops at the first blank line, where the body starts", () => {
    assert.deepEqual(headerValues(metadata, "Version"), ["1.0"]);
    assert.deepEqual(headerValues("Name: a\n\nName: b\n", "Name"), ["a"]);
  });

  test("headerValues matches keys case-insensitively", () => {
    assert.deepEqual(headerValues(metadata, "name"), ["Jokes_CLI"]);
    assert.deepEqual(headerValues("NAME: x\n", "Name"), ["x"]);
  });

  test("headerValues returns every value of a repeated key, in order", () => {
    const wheel = "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.41.2)\nRoot-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n";
    assert.deepEqual(headerValues(wheel, "Tag"), ["py2-none-any", "py3-none-any"]);
    assert.deepEqual(headerValues(metadata, "Requires-Dist"), ["jokes-core", "colorama ; extra == 'color'"]);
  });

  test("headerValues trims values", () => {
    assert.deepEqual(headerValues(metadata, "Summary"), ["tells jokes"]);
  });

  test("headerValues reads CRLF files", () => {
    assert.deepEqual(headerValues("Tag: a\r\nTag: b\r\n\r\nTag: c\r\n", "Tag"), ["a", "b"]);
  });

  test("headerValues returns nothing for a missing key or an empty text", () => {
    assert.deepEqual(headerValues(metadata, "License"), []);
    assert.deepEqual(headerValues("", "Name"), []);
  });

  test("headerValues does not match a key that is only a prefix of another", () => {
    assert.deepEqual(headerValues("Name-Extra: x\nName: y\n", "Name"), ["y"]);
  });
});

describe("normalizedName", () => {
  for (const [name, expected] of [
    ["Jokes_CLI", "jokes-cli"],
    ["zope.interface", "zope-interface"],
    ["Foo__Bar--baz..Qux", "foo-bar-baz-qux"],
    ["a-_.b", "a-b"],
    ["simple", "simple"],
  ] as const) {
    test(`normalizedName turns ${JSON.stringify(name)} into ${JSON.stringify(expected)} (PEP 503)`, () => {
      assert.equal(normalizedName(name), expected);
    });
  }
});
