import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { digestPrefix, isDigest, isImageName, isRegistryHost, isRepositoryName, isTag, looksLikeDigest } from "../../../src/image/names.js";
import { parseReference } from "../../../src/registry/reference.js";
import { normalizeTag } from "../../../src/store/images.js";

const HEX = "ab".repeat(32);

describe("image names: one grammar", () => {
  test("local names take an optional host and port, components and a tag", () => {
    for (const good of ["app", "app:1", "team/app:v1.2-x", "127.0.0.1:5000/app", "[::1]:5000/a/b:c", "a__b", "a--b.c"]) assert.equal(isImageName(good), true, good);
    for (const bad of ["App", "app:", "-a", "a//b", "a/", ":1", "a:b:c", `a:${"x".repeat(129)}`]) assert.equal(isImageName(bad), false, bad);
  });

  test("registry hosts take a port up to 65535", () => {
    for (const good of ["localhost", "127.0.0.1:5000", "registry.example.com", "[::1]:443", "h:65535"]) assert.equal(isRegistryHost(good), true, good);
    for (const bad of ["Host", "h:65536", "h:", "-h", "h/x", "[xyz]"]) assert.equal(isRegistryHost(bad), false, bad);
  });

  test("repositories, tags and digests", () => {
    assert.equal(isRepositoryName("team/app"), true);
    assert.equal(isRepositoryName("team//app"), false);
    assert.equal(isRepositoryName("a".repeat(256)), false);
    assert.equal(isTag("v1.0_x"), true);
    assert.equal(isTag(".v1"), false);
    assert.equal(isDigest(`sha256:${HEX}`), true);
    assert.equal(isDigest(HEX), false);
  });

  test("a digest prefix is 4 to 63 hex digits, sha256: optional; a digest's form is a prefix or the whole", () => {
    assert.equal(digestPrefix("abcd"), "abcd");
    assert.equal(digestPrefix("sha256:abcd12"), "abcd12");
    assert.equal(digestPrefix("abc"), null);
    assert.equal(digestPrefix(HEX), null);
    assert.equal(looksLikeDigest(HEX), true);
    assert.equal(looksLikeDigest(`sha256:${HEX}`), true);
    assert.equal(looksLikeDigest("sha256:zz"), false);
    assert.equal(looksLikeDigest("app"), false);
  });

  test("the store and the registry client accept the same names with a host", () => {
    for (const name of ["127.0.0.1:5000/app:1", "localhost:5000/a/b", "registry.example.com/team/app:2.0", "localhost:5000/App", "localhost:5000/a//b", "localhost:5000/app:.x"]) {
      let local: boolean;
      try {
        normalizeTag(name);
        local = true;
      } catch {
        local = false;
      }
      let remote: boolean;
      try {
        parseReference(name);
        remote = true;
      } catch {
        remote = false;
      }
      assert.equal(local, remote, name);
    }
  });
});
