/**
 * `pypakr sbom` as a user runs it: an image built by requirements.txt from local wheels (one with
 * license metadata, one without), its CycloneDX SBOM validated against the
 * 1.6 schema and its pylock.toml parsed (and validated by packaging.pylock
 * when python3 has it), from the store, from the image file, and from a
 * real registry into an empty store.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "smol-toml";
import { createHash } from "node:crypto";
import { expectCleanFailure, expectOk, homeSharingBases, makeTempDir, makeWheel, privateHome, pypakr, removeDir, tarDirectory } from "../support/helpers.js";
import { startRegistry, type Registry } from "../support/registry.js";
import { cycloneDxErrors, pylockProblem, pythonHasPylock } from "../support/sbom.js";

interface Component {
  name: string;
  hashes?: Array<{ alg: string; content: string }>;
  version: string;
  purl: string;
  licenses?: unknown[];
  externalReferences?: Array<{ type: string; url: string }>;
  properties: Array<{ name: string; value: string }>;
}
interface Bom {
  serialNumber: string;
  metadata: { timestamp: string; component: { name: string; purl: string } };
  components: Component[];
}

describe("pypakr sbom", () => {
  let dir = "";
  let home = "";
  let image = "";
  let registry: Registry | undefined;
  /** sha256 of each wheel file, by file name. */
  const wheelHashes = new Map<string, string>();

  before(async () => {
    dir = await makeTempDir("pypakr-sbom-");
    home = await privateHome(dir);
    const source = path.join(dir, "src");
    const packages = path.join(source, "packages");
    const lib = makeWheel(packages, {
      name: "Licensed_Lib",
      version: "2.0.1",
      files: { "licensed_lib/__init__.py": "X = 1\n" },
      metadata: ["License-Expression: MIT OR Apache-2.0", "Requires-Python: >=3.8", "Summary: a <b>licensed</b> library", "Home-page: https://example.org/licensed", "Classifier: License :: OSI Approved :: MIT License"],
    });
    const tool = makeWheel(packages, { name: "plain-tool", version: "1.0", requires: ["Licensed_Lib"], files: { "plain_tool/__init__.py": "" }, metadata: ["License: BSD-ish, see\u0007 LICENSE", "Home-page: javascript:alert(1)"] });
    for (const wheel of [lib, tool]) wheelHashes.set(path.basename(wheel), createHash("sha256").update(await fs.readFile(wheel)).digest("hex"));
    // A requirements.txt build: pypakr runs pip itself and records each wheel's origin (file name and sha256).
    await fs.writeFile(path.join(source, "requirements.txt"), "--no-index\n--find-links packages\nplain-tool\n");
    image = path.join(dir, "image.tar");
    expectOk(await pypakr(["create-image", "-s", tarDirectory(source, path.join(dir, "src.tar")), "-i", image, "-t", "sbomtest:1"], { home }), "create-image");
  });
  after(async () => {
    await registry?.stop();
    await removeDir(dir);
  });

  test("CycloneDX: valid against the 1.6 schema; each distribution with purl, license, layer; the same bytes from the store, the file and -o", async () => {
    const stored = expectOk(await pypakr(["sbom", "sbomtest:1"], { home }), "sbom").stdout;
    const bom = JSON.parse(stored) as Bom;
    assert.deepEqual(cycloneDxErrors(bom), []);
    const byName = new Map(bom.components.map((component) => [component.name, component]));
    assert.deepEqual([...byName.keys()], ["Licensed_Lib", "plain-tool"]);
    const lib = byName.get("Licensed_Lib");
    assert.equal(lib?.purl.split("?")[0], "pkg:pypi/licensed-lib@2.0.1");
    assert.deepEqual(lib?.licenses, [{ expression: "MIT OR Apache-2.0" }]);
    assert.deepEqual(lib?.externalReferences?.[0], { type: "website", url: "https://example.org/licensed" });
    assert.ok(lib?.properties.some((property) => property.name === "pypakr:layer" && /^sha256:[0-9a-f]{64}$/.test(property.value)));
    assert.ok(lib?.properties.some((property) => property.name === "pypakr:requires-python" && property.value === ">=3.8"));
    assert.equal(lib?.purl, "pkg:pypi/licensed-lib@2.0.1?file_name=Licensed_Lib-2.0.1-py3-none-any.whl");
    assert.deepEqual(lib?.hashes, [{ alg: "SHA-256", content: wheelHashes.get("Licensed_Lib-2.0.1-py3-none-any.whl") }], "the wheel's own hash, from the origin recorded at build");
    const tool = byName.get("plain-tool");
    assert.deepEqual(tool?.licenses, [{ license: { name: "BSD-ish, see LICENSE" } }]);
    assert.equal(tool?.externalReferences, undefined, "a javascript: homepage is dropped");
    assert.equal(bom.metadata.component.name, "sbomtest");
    assert.match(bom.metadata.component.purl, /^pkg:oci\/sbomtest@sha256%3A[0-9a-f]{64}\?arch=[a-z0-9_]+&tag=1$/);

    const out = path.join(dir, "bom.cdx.json");
    expectOk(await pypakr(["sbom", image, "--format", "cyclonedx", "-o", out], { home }), "sbom -o");
    assert.equal(await fs.readFile(out, "utf8"), stored, "the image file gives the same document as the stored image");
    assert.equal(expectOk(await pypakr(["sbom", "sbomtest:1"], { home }), "sbom again").stdout, stored, "the same image gives the same bytes");
  });

  test("pylock: parses, lists every distribution with its wheel (name, path beside the lock, sha256), and is valid PEP 751", async () => {
    const out = path.join(dir, "pylock.toml");
    expectOk(await pypakr(["sbom", "sbomtest:1", "--format", "pylock", "-o", out], { home }), "sbom --format pylock");
    const text = await fs.readFile(out, "utf8");
    const lock = parse(text) as { "lock-version": string; "created-by": string; "requires-python": string; packages: Array<{ name: string; version: string }>; tool?: { pypakr?: { unlocked?: Array<{ name: string; version: string }> } } };
    assert.equal(lock["lock-version"], "1.0");
    assert.equal(lock["created-by"], "pypakr");
    assert.match(lock["requires-python"], /^==3\.\d+\.\*$/);
    const listed = [...lock.packages, ...(lock.tool?.pypakr?.unlocked ?? [])].map((entry) => `${entry.name} ${entry.version}`).sort();
    assert.deepEqual(listed, ["licensed-lib 2.0.1", "plain-tool 1.0"]);
    // Installed from local files: locked by path (beside the lock) and hash.
    const wheels = (lock.packages as unknown as Array<{ wheels: Array<{ name: string; path: string; hashes: { sha256: string } }> }>).map((entry) => entry.wheels[0]);
    assert.deepEqual(
      wheels.map((wheel) => [wheel?.name, wheel?.path, wheel?.hashes.sha256]),
      [...wheelHashes].map(([name, sha256]) => [name, name, sha256]),
    );
    if (pythonHasPylock()) assert.equal(await pylockProblem(text), "");
  });

  test("a registry reference the store lacks is pulled, and the SBOM names the image by it", async () => {
    registry = await startRegistry();
    const reference = `${registry.host}/team/sbomtest:1`;
    expectOk(await pypakr(["push", "sbomtest:1", reference], { home }), "push");
    const fresh = await homeSharingBases(home, path.join(dir, "fresh-home"));
    const bom = JSON.parse(expectOk(await pypakr(["sbom", reference], { home: fresh }), "sbom REGISTRY-REF").stdout) as Bom;
    assert.deepEqual(cycloneDxErrors(bom), []);
    assert.equal(bom.components.length, 2);
    assert.equal(bom.metadata.component.name, `${registry.host}/team/sbomtest`);
    assert.match(bom.metadata.component.purl, new RegExp(`^pkg:oci/sbomtest@sha256%3A[0-9a-f]{64}\\?arch=[a-z0-9_]+&repository_url=${registry.host.replace(/\./g, "\\.")}/team/sbomtest&tag=1$`));
  });

  test("errors name the problem and the fix, and leave an existing -o file as it was", async () => {
    const kept = path.join(dir, "kept.json");
    await fs.writeFile(kept, "mine\n");
    expectCleanFailure(await pypakr(["sbom", "nosuch:9", "-o", kept], { home }), /no image "nosuch:9"/);
    assert.equal(await fs.readFile(kept, "utf8"), "mine\n");
    expectCleanFailure(await pypakr(["sbom", "sbomtest:1", "-o", path.join(dir, "missing", "x.json")], { home }), /does not exist/);
    await assert.rejects(fs.access(path.join(dir, "missing")));
    expectCleanFailure(await pypakr(["sbom", "sbomtest:1", "-o", path.join(home, "store", "x.json")], { home }), /pypakr never replaces or writes into/);
    const badFormat = await pypakr(["sbom", "sbomtest:1", "--format", "spdx"], { home });
    assert.notEqual(badFormat.code, 0);
    assert.match(badFormat.stderr, /cyclonedx|pylock/);
    assert.deepEqual((await fs.readdir(dir)).filter((name) => name.includes(".tmp") || name.startsWith(".kept")), []);
  });
});
