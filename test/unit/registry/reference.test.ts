import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { apiHost, formatReference, isLoopback, localTag, looksLikeRegistryReference, parseReference } from "../../../src/registry/reference.js";
import { Transport } from "../../../src/registry/http.js";
import { normalizeTag } from "../../../src/store/images.js";
import { PypakrError } from "../../../src/util/errors.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("registry references", () => {
  test("parseReference splits host, port, repository and tag; the tag defaults to latest", () => {
    assert.deepEqual(parseReference("127.0.0.1:5000/app:1"), { registry: "127.0.0.1:5000", repository: "app", tag: "1" });
    assert.deepEqual(parseReference("registry.example.com/team/app"), { registry: "registry.example.com", repository: "team/app", tag: "latest" });
    assert.deepEqual(parseReference("localhost/a/b/c:v1.2-x"), { registry: "localhost", repository: "a/b/c", tag: "v1.2-x" });
    assert.deepEqual(parseReference("[::1]:5000/app"), { registry: "[::1]:5000", repository: "app", tag: "latest" });
  });

  test("parseReference takes a digest, with or without a tag, and then no default tag", () => {
    assert.deepEqual(parseReference(`localhost:5000/app@${DIGEST}`), { registry: "localhost:5000", repository: "app", digest: DIGEST });
    assert.deepEqual(parseReference(`localhost:5000/app:1@${DIGEST}`), { registry: "localhost:5000", repository: "app", tag: "1", digest: DIGEST });
  });

  test("parseReference refuses what is not a registry reference, as a usage error", () => {
    for (const bad of ["app:1", "team/app", "localhost:5000/App", "localhost:5000/app:", "localhost:99999/app", "localhost:5000/app@sha256:abc", "localhost:5000/a//b", "localhost:5000/-a"]) {
      assert.throws(() => parseReference(bad), (error: unknown) => error instanceof PypakrError && error.exitCode === 2, bad);
    }
  });

  test("looksLikeRegistryReference follows Docker's rule for the first component", () => {
    assert.equal(looksLikeRegistryReference("example.com/app"), true);
    assert.equal(looksLikeRegistryReference("host:5000/app"), true);
    assert.equal(looksLikeRegistryReference("localhost/app"), true);
    assert.equal(looksLikeRegistryReference("team/app:1"), false);
    assert.equal(looksLikeRegistryReference("app:1"), false);
    assert.equal(looksLikeRegistryReference("./IMAGE.tar"), true, "a relative path looks like one too; callers test for a file first");
  });

  test("formatReference and localTag write the full reference back", () => {
    const ref = parseReference("127.0.0.1:5000/team/app");
    assert.equal(formatReference(ref), "127.0.0.1:5000/team/app:latest");
    assert.equal(localTag(ref), "127.0.0.1:5000/team/app:latest");
    assert.equal(localTag(parseReference(`127.0.0.1:5000/app@${DIGEST}`)), undefined, "a pull by digest is not tagged");
  });

  test("loopback hosts are 127.0.0.0/8, ::1 and localhost, with or without a port", () => {
    for (const host of ["localhost", "localhost:5000", "127.0.0.1", "127.3.4.5:80", "[::1]", "[::1]:5000"]) assert.equal(isLoopback(host), true, host);
    for (const host of ["example.com", "10.0.0.1:5000", "128.0.0.1", "localhost.example.com", "[::2]"]) assert.equal(isLoopback(host), false, host);
  });
});

describe("local tags with a registry host", () => {
  test("normalizeTag keeps the port's colon apart from the tag's", () => {
    assert.equal(normalizeTag("127.0.0.1:5000/app"), "127.0.0.1:5000/app:latest");
    assert.equal(normalizeTag("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app:1");
    assert.equal(normalizeTag("registry.example.com/team/app:2.0"), "registry.example.com/team/app:2.0");
    assert.equal(normalizeTag("localhost:5000/a/b"), "localhost:5000/a/b:latest");
  });

  test("normalizeTag still takes plain names and refuses what it refused", () => {
    assert.equal(normalizeTag("jokes"), "jokes:latest");
    assert.equal(normalizeTag("team/jokes:1"), "team/jokes:1");
    for (const bad of ["Jokes:1", "jokes:", ":1", "a//b", "host:port/app", "127.0.0.1:5000/App:1", "/app"]) {
      assert.throws(() => normalizeTag(bad), PypakrError, bad);
    }
  });
});

describe("Docker Hub", () => {
  test("docker.io and index.docker.io are served by registry-1.docker.io; other registries by themselves", () => {
    for (const name of ["docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"]) assert.equal(apiHost(name), "registry-1.docker.io", name);
    for (const name of ["ghcr.io", "127.0.0.1:5000", "docker.io.example.com", "mydocker.io"]) assert.equal(apiHost(name), name, name);
    assert.equal(new Transport("docker.io").url("/v2/").href, "https://registry-1.docker.io/v2/");
  });
});
