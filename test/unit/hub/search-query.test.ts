/**
 * The hub's search box (src/hub/search-query.ts) and the PEP 440 pieces under
 * it (src/hub/versions.ts): each query form the hub documents, the errors a
 * user can cause (with the hint naming the forms that work), and the version
 * key's promise: a range computed from a specifier never leaves out a version
 * that satisfies it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_QUERY_LENGTH, parseSearchQuery } from "../../../src/hub/search-query.js";
import { compareVersions, keyRange, specifierClauses, versionKey, versionSatisfies } from "../../../src/hub/versions.js";
import { PypakrError } from "../../../src/util/errors.js";

function badQuery(q: string): void {
  assert.throws(
    () => parseSearchQuery(q),
    (error: unknown) =>
      error instanceof PypakrError && error.code === "bad-query" && (error.hint ?? "").includes('"flask 3.1"') && (error.hint ?? "").includes('"urllib3<2"'),
    q,
  );
}

describe("parseSearchQuery", () => {
  test("a single name: free text, and that distribution at any version (PEP 503 name)", () => {
    assert.deepEqual(parseSearchQuery("flask"), { text: "flask", distribution: { name: "flask", specifier: null } });
    assert.deepEqual(parseSearchQuery("  Flask_Login "), { text: "Flask_Login", distribution: { name: "flask-login", specifier: null } });
    assert.deepEqual(parseSearchQuery("zope.interface"), { text: "zope.interface", distribution: { name: "zope-interface", specifier: null } });
  });

  test("a name and a bare version: that release and everything under it", () => {
    assert.deepEqual(parseSearchQuery("flask 3.1"), { text: "flask", distribution: { name: "flask", specifier: "==3.1.*" } });
    assert.deepEqual(parseSearchQuery("flask 3"), { text: "flask", distribution: { name: "flask", specifier: "==3.*" } });
    assert.deepEqual(parseSearchQuery("flask v3.1.0"), { text: "flask", distribution: { name: "flask", specifier: "==3.1.0.*" } });
    assert.deepEqual(parseSearchQuery("flask 3.1.*"), { text: "flask", distribution: { name: "flask", specifier: "==3.1.*" } });
    // Search-as-you-type sends "flask 3." on its way to "flask 3.1".
    assert.deepEqual(parseSearchQuery("flask 3."), { text: "flask", distribution: { name: "flask", specifier: "==3.*" } });
    // A pre-release cannot take a wildcard: it means itself.
    assert.deepEqual(parseSearchQuery("flask 3.1.0rc1"), { text: "flask", distribution: { name: "flask", specifier: "==3.1.0rc1" } });
  });

  test("a name and a specifier, with or without spaces", () => {
    assert.deepEqual(parseSearchQuery("flask==3.1.0"), { text: "flask", distribution: { name: "flask", specifier: "==3.1.0" } });
    assert.deepEqual(parseSearchQuery("urllib3<2"), { text: "urllib3", distribution: { name: "urllib3", specifier: "<2" } });
    assert.deepEqual(parseSearchQuery("urllib3 <2,>=1.26"), { text: "urllib3", distribution: { name: "urllib3", specifier: "<2,>=1.26" } });
    assert.deepEqual(parseSearchQuery("urllib3 < 2 , >= 1.26"), { text: "urllib3", distribution: { name: "urllib3", specifier: "<2,>=1.26" } });
    assert.deepEqual(parseSearchQuery("Django~=4.2"), { text: "Django", distribution: { name: "django", specifier: "~=4.2" } });
    assert.deepEqual(parseSearchQuery("odd===anything-goes"), { text: "odd", distribution: { name: "odd", specifier: "===anything-goes" } });
  });

  test("other text is free text only", () => {
    for (const q of ["team/flask-app", "web app", "flask app server", "hello!", "what's new?", "a 1 2", "-flask", "flask-"]) {
      assert.deepEqual(parseSearchQuery(q), { text: q }, q);
    }
    assert.deepEqual(parseSearchQuery(""), { text: "" });
    assert.deepEqual(parseSearchQuery(" \t\n "), { text: "" });
  });

  test("control characters become spaces; the query is cut at 200 characters, never mid-character", () => {
    assert.deepEqual(parseSearchQuery("web\u0000app\u001b[31m\u0085x"), { text: "web app [31m x" });
    const long = "😀".repeat(MAX_QUERY_LENGTH + 50);
    const parsed = parseSearchQuery(long);
    assert.equal(Array.from(parsed.text).length, MAX_QUERY_LENGTH);
    assert.equal(parsed.text, "😀".repeat(MAX_QUERY_LENGTH));
  });

  test("a bad specifier is a bad-query error whose hint shows the forms that work", () => {
    for (const q of ["flask=3.1", "flask==", "urllib3<", "urllib3 <2,", "flask==abc", "flask >= 3 <", "flask ~=3", "<2", "==3.1.0", "flask 3.1.x", "flask<2,,>1"]) badQuery(q);
  });
});

describe("version keys and ranges", () => {
  test("keys sort as PEP 440 orders releases; trailing zeros and pre/post/dev/local parts do not move a version", () => {
    const ordered = ["0.9", "1.0", "1.2", "1.10", "2", "2.0.1", "10.0", "2024.1", "1!0.1"];
    const keys = ordered.map((version) => versionKey(version) ?? "");
    assert.deepEqual([...keys].sort(), keys);
    assert.equal(versionKey("3.1.0"), versionKey("3.1"));
    assert.equal(versionKey("3.1.0rc1"), versionKey("3.1"));
    assert.equal(versionKey("3.1.post2+local.7"), versionKey("3.1"));
    assert.equal(versionKey("not a version"), null);
    assert.equal(versionKey("1.99999999999999999999"), null);
  });

  test("a specifier's key range holds every version that satisfies it", () => {
    const versions = [
      "0.1", "0.9.9", "1.0", "1.0.0", "1.0rc1", "1.0.post1", "1.0.dev3", "1.0+local", "1.1", "1.26.0", "1.26.20", "1.27rc1", "2.0.0rc1", "2.0",
      "2.0.0", "2.0.1", "2.0.post1", "2.post2", "2.0+local", "2.1", "3.0", "3.1.0", "3.1.1", "3.10.0", "3.2", "10.0", "1!0.5", "1!2.0",
    ];
    const specifiers = ["<2", "<=2", ">2", ">=2", "==2", "==2.0.0", "<2,>=1.26", "==3.1.*", "==1.*", "~=1.26.3", "~=3.1", "!=2.0", ">1.0.post1", "<=1.0rc1", "==1!0.*", ">=1!0", "==3.*,!=3.1.1", "<=2.0.post1", "==2.0.post1", "<2.0.post1", "==2.0+local"];
    for (const specifier of specifiers) {
      const clauses = specifierClauses(specifier);
      assert.ok(clauses, specifier);
      const { low, high } = keyRange(clauses);
      for (const version of versions) {
        if (!versionSatisfies(version, clauses)) continue;
        const key = versionKey(version) ?? "";
        assert.ok((low === null || key >= low) && (high === null || key < high), `${version} satisfies ${specifier} but its key ${key} is outside [${low}, ${high})`);
      }
    }
  });

  test("satisfies: pre-releases count, but not where PEP 440 excludes them; === compares strings", () => {
    const holds = (version: string, specifier: string): boolean => versionSatisfies(version, specifierClauses(specifier) ?? []);
    assert.equal(holds("1.27rc1", "<2"), true);
    assert.equal(holds("2.0.0rc1", "<2"), false);
    assert.equal(holds("3.1.0", "==3.1.*"), true);
    assert.equal(holds("3.10.0", "==3.1.*"), false);
    assert.equal(holds("not-pep-440", "<2"), false);
    assert.equal(holds("Not-PEP-440", "===not-pep-440"), true);
    assert.equal(compareVersions("2.0", "10.0"), -1);
    assert.equal(compareVersions("1.0", "1.0.0"), 0);
    assert.equal(compareVersions("x", "1.0"), null);
  });
});
