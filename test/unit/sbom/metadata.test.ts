import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { METADATA_LIMITS, parseDistributionMetadata } from "../../../src/sbom/index.js";

const FLASK = [
  "Metadata-Version: 2.4",
  "Name: Flask",
  "Version: 3.1.0",
  "Summary: A simple framework for building complex web applications.",
  "Requires-Python: >=3.9",
  "License-Expression: BSD-3-Clause",
  "Classifier: Development Status :: 5 - Production/Stable",
  "Classifier: License :: OSI Approved :: BSD License",
  "Classifier: Programming Language :: Python",
  "Classifier: License :: OSI Approved :: MIT License",
  "Requires-Dist: Werkzeug>=3.1",
  "Project-URL: Documentation, https://flask.palletsprojects.com/",
  "Project-URL: Source, https://github.com/pallets/flask/",
  "",
  "# Flask",
  "License: not a header, the description",
  "",
].join("\n");

describe("parseDistributionMetadata", () => {
  test("reads the header block: expression, classifiers (without 'License ::'), Requires-Python, summary, the first http(s) Project-URL", () => {
    assert.deepEqual(parseDistributionMetadata(FLASK), {
      licenseExpression: "BSD-3-Clause",
      license: null,
      licenseClassifiers: ["OSI Approved :: BSD License", "OSI Approved :: MIT License"],
      requiresPython: ">=3.9",
      summary: "A simple framework for building complex web applications.",
      homepage: "https://flask.palletsprojects.com/",
    });
  });

  test("folded lines continue a header; License keeps its first line; Home-page wins over Project-URL; a Homepage label, then docs or source, over the first URL", () => {
    const text = "Name: x\r\nLicense: Copyright (c) 2024 Someone\r\n        Permission is hereby granted, free of charge\r\n        to any person\r\nSummary: one\r\n  two\r\nHome-page: http://example.org/x\r\nProject-URL: Docs, https://docs.example.org\r\n\r\n";
    const parsed = parseDistributionMetadata(text);
    assert.equal(parsed.license, "Copyright (c) 2024 Someone");
    assert.equal(parsed.summary, "one two");
    assert.equal(parsed.homepage, "http://example.org/x");
    const labelled = parseDistributionMetadata("Project-URL: Docs, https://docs.example.org\nProject-URL: Homepage, https://home.example.org\n");
    assert.equal(labelled.homepage, "https://home.example.org/");
    const pallets = parseDistributionMetadata("Project-URL: Donate, https://example.org/donate\nProject-URL: Chat, https://chat.example.org\nProject-URL: Source Code, https://src.example.org/\n");
    assert.equal(pallets.homepage, "https://src.example.org/", "the source before a donation link");
    assert.equal(parseDistributionMetadata("Project-URL: Donate, https://example.org/donate\n").homepage, "https://example.org/donate", "else the first");
  });

  test("setuptools' UNKNOWN and empty values are absent; so is everything in an empty or headerless file", () => {
    const empty = { licenseExpression: null, license: null, licenseClassifiers: [], requiresPython: null, summary: null, homepage: null };
    assert.deepEqual(parseDistributionMetadata("License: UNKNOWN\nHome-page: UNKNOWN\nSummary:   \n"), empty);
    assert.deepEqual(parseDistributionMetadata(""), empty);
    assert.deepEqual(parseDistributionMetadata("\nLicense: MIT\n"), empty);
  });

  test("hostile values: control and bidi characters stripped, each field capped, classifiers deduplicated and capped", () => {
    const text = [
      `License: MIT\u001b[2J\u202eevil\u0000`,
      `Summary: ${"s".repeat(10_000)}`,
      `Requires-Python: >=3.9\u0007`,
      `License-Expression: ${"MIT OR ".repeat(500)}MIT`,
      ...Array.from({ length: 100 }, (_, index) => `Classifier: License :: Custom ${index % 50} <script>alert(1)</script>`),
      `Classifier: License :: ${"L".repeat(1000)}`,
    ].join("\n");
    const parsed = parseDistributionMetadata(text);
    assert.equal(parsed.license, "MIT [2J evil");
    assert.equal(parsed.requiresPython, ">=3.9");
    assert.equal(parsed.summary?.length, METADATA_LIMITS.summary);
    assert.ok((parsed.licenseExpression?.length ?? 0) <= METADATA_LIMITS.licenseExpression);
    assert.equal(parsed.licenseClassifiers.length, METADATA_LIMITS.classifiers);
    assert.equal(new Set(parsed.licenseClassifiers).size, parsed.licenseClassifiers.length);
    // Text is kept as text: escaping is the page's job, but nothing here can carry a control character.
    for (const value of [parsed.license, parsed.summary, parsed.licenseExpression, parsed.requiresPython, ...parsed.licenseClassifiers]) {
      assert.doesNotMatch(value ?? "", /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u);
      assert.ok((value ?? "").length <= 500);
    }
  });

  test("a homepage is only an http(s) URL with a host and no credentials, and never a cut one", () => {
    for (const bad of ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<script>", "file:///etc/passwd", "ftp://example.org", "https://user:pw@example.org/", "https:// example.org", "http://", `https://example.org/${"a".repeat(600)}`, "//example.org"]) {
      assert.equal(parseDistributionMetadata(`Home-page: ${bad}\n`).homepage, null, bad);
      assert.equal(parseDistributionMetadata(`Project-URL: Homepage, ${bad}\n`).homepage, null, bad);
    }
    assert.equal(parseDistributionMetadata("Home-page: javascript:x\nProject-URL: Source, https://example.org/a?b=<c>\n").homepage, "https://example.org/a?b=%3Cc%3E");
  });

  test("a cap never splits a surrogate pair", () => {
    const parsed = parseDistributionMetadata(`Summary: ${"a".repeat(METADATA_LIMITS.summary - 1)}😀tail\n`);
    assert.equal(parsed.summary, "a".repeat(METADATA_LIMITS.summary - 1));
  });
});
