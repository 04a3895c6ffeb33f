import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "smol-toml";
import { cycloneDxDocument, cycloneDxLicenses, type DistributionMetadata, isSpdxExpression, parseDistributionMetadata, pylockDocument, pypiPurl, type SbomInput } from "../../../src/sbom/index.js";
import { knownSpdxIds } from "../../../src/sbom/licenses.js";
import { cycloneDxErrors, pylockProblem, pythonHasPylock, spdxIds } from "../../support/sbom.js";

const DIGEST = `sha256:${"d".repeat(64)}`;
const layer = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
/** smol-toml's tables have no prototype; deepEqual compares prototypes. */
const parseToml = (text: string): unknown => JSON.parse(JSON.stringify(parse(text)));
const meta = (text: string): DistributionMetadata => parseDistributionMetadata(text);

/** Three distributions: one with an origin on PyPI, one installed from a local file (origin without URL), one without origin or METADATA. */
function sampleInput(): SbomInput {
  return {
    reference: "127.0.0.1:5000/team/app:1.0",
    manifestDigest: DIGEST,
    created: "2026-11-30T12:00:00Z",
    python: { implementation: "cpython", version: "3.11.7" },
    architecture: "amd64",
    os: "linux",
    components: [
      {
        name: "Flask",
        version: "3.1.0",
        wheelTags: ["py3-none-any"],
        layerDigest: layer(1),
        origin: { filename: "flask-3.1.0-py3-none-any.whl", sha256: "a".repeat(64), url: "https://files.pythonhosted.org/packages/af/47/flask-3.1.0-py3-none-any.whl" },
        metadata: meta("License-Expression: BSD-3-Clause\nRequires-Python: >=3.9\nSummary: web\nProject-URL: Source, https://github.com/pallets/flask/\n"),
      },
      {
        name: "Demo_Pkg.Extra",
        version: "1.0+local.1",
        wheelTags: ["py3-none-any"],
        layerDigest: layer(2),
        origin: { filename: "Demo_Pkg.Extra-1.0+local.1-py3-none-any.whl", sha256: "b".repeat(64) },
        metadata: meta("License: MIT\nClassifier: License :: OSI Approved :: MIT License\nClassifier: License :: Other/Proprietary License\n"),
      },
      { name: "legacy", version: "0.1", wheelTags: [], layerDigest: layer(3), metadata: null },
    ],
  };
}

describe("CycloneDX", () => {
  test("the document validates against the CycloneDX 1.6 JSON schema, with and without origins and METADATA", () => {
    const input = sampleInput();
    assert.deepEqual(cycloneDxErrors(cycloneDxDocument(input)), []);
    const bare = { ...input, reference: undefined, components: input.components.map(({ origin: _origin, ...rest }) => ({ ...rest, metadata: null })) } as SbomInput;
    assert.deepEqual(cycloneDxErrors(cycloneDxDocument(bare)), []);
    assert.deepEqual(cycloneDxErrors(cycloneDxDocument({ ...input, components: [] })), []);
  });

  test("components: purl (lowercase, _ as -, version percent-encoded, file_name), SHA-256 from the origin, layer and wheel tags as properties", () => {
    const document = cycloneDxDocument(sampleInput()) as { components: Array<Record<string, unknown>>; metadata: { component: Record<string, unknown>; timestamp: string }; serialNumber: string };
    const [demo, flask, legacy] = document.components;
    assert.equal(flask?.purl, "pkg:pypi/flask@3.1.0?file_name=flask-3.1.0-py3-none-any.whl");
    assert.equal(flask?.["bom-ref"], "pkg:pypi/flask@3.1.0");
    assert.deepEqual(flask?.hashes, [{ alg: "SHA-256", content: "a".repeat(64) }]);
    assert.deepEqual(flask?.licenses, [{ expression: "BSD-3-Clause" }]);
    assert.deepEqual(flask?.properties, [
      { name: "pypakr:layer", value: layer(1) },
      { name: "pypakr:wheel-tags", value: "py3-none-any" },
      { name: "pypakr:requires-python", value: ">=3.9" },
    ]);
    assert.equal(demo?.purl, "pkg:pypi/demo-pkg.extra@1.0%2Blocal.1?file_name=Demo_Pkg.Extra-1.0%2Blocal.1-py3-none-any.whl");
    assert.deepEqual(demo?.licenses, [{ license: { id: "MIT" } }, { license: { name: "Other/Proprietary License" } }]);
    assert.equal(legacy?.purl, "pkg:pypi/legacy@0.1");
    assert.equal(legacy?.hashes, undefined);
    assert.equal(legacy?.licenses, undefined);
    assert.equal(document.metadata.timestamp, "2026-11-30T12:00:00Z");
    assert.equal(document.metadata.component.purl, `pkg:oci/app@sha256%3A${"d".repeat(64)}?arch=amd64&repository_url=127.0.0.1:5000/team/app&tag=1.0`);
    assert.match(document.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test("the same image gives the same bytes, whatever order the components come in; another image another serial number", () => {
    const input = sampleInput();
    const once = JSON.stringify(cycloneDxDocument(input));
    assert.equal(JSON.stringify(cycloneDxDocument({ ...input, components: [...input.components].reverse() })), once);
    const other = cycloneDxDocument({ ...input, manifestDigest: `sha256:${"e".repeat(64)}` }) as { serialNumber: string };
    assert.notEqual(other.serialNumber, (JSON.parse(once) as { serialNumber: string }).serialNumber);
  });

  test("bom-refs stay unique when a config lists one distribution twice", () => {
    const input = sampleInput();
    const twice = { ...input, components: [input.components[2], { ...input.components[2], layerDigest: layer(4) }, { ...input.components[2], layerDigest: layer(5) }] } as SbomInput;
    const document = cycloneDxDocument(twice) as { components: Array<{ "bom-ref": string }> };
    assert.equal(new Set(document.components.map((component) => component["bom-ref"])).size, 3);
    assert.deepEqual(cycloneDxErrors(document), []);
  });

  test("hostile METADATA still makes a valid document: an expression that is no SPDX expression becomes a name, never an id", () => {
    const hostile = meta(
      [
        "License-Expression: MIT OR <script>alert(1)</script>",
        "License: \u202eTIM",
        `Summary: ${"x".repeat(5000)}`,
        "Home-page: javascript:alert(1)",
        "Classifier: License :: OSI Approved :: Not-A-Real-Id",
        "Classifier: License :: \"quoted\" & <b>bold</b>",
      ].join("\n"),
    );
    const input = { ...sampleInput(), components: [{ name: "evil", version: "1", wheelTags: [], layerDigest: layer(9), metadata: hostile }] };
    const document = cycloneDxDocument(input) as { components: Array<{ licenses: unknown[]; externalReferences?: unknown }> };
    assert.deepEqual(cycloneDxErrors(document), []);
    assert.deepEqual(document.components[0]?.licenses, [
      { license: { name: "MIT OR <script>alert(1)</script>" } },
      { license: { name: "TIM" } },
      { license: { name: "Not-A-Real-Id" } },
      { license: { name: '"quoted" & <b>bold</b>' } },
    ]);
    assert.equal(document.components[0]?.externalReferences, undefined);
  });

  test("license mapping: valid SPDX expressions alone; otherwise names, and ids only from pypakr's table, every one on the SPDX list", () => {
    for (const good of ["MIT", "MIT OR Apache-2.0", "(MIT OR Apache-2.0) AND BSD-3-Clause", "GPL-2.0-or-later WITH Classpath-exception-2.0", "LicenseRef-Proprietary", "GPL-2.0+", "DocumentRef-x:LicenseRef-y"]) assert.equal(isSpdxExpression(good), true, good);
    for (const bad of ["", "MIT OR", "OR MIT", "(MIT", "MIT)", "MIT or Apache-2.0", "MIT/Apache-2.0", "MIT License", "BSD 3-Clause", "MIT WITH", "MIT AND AND BSD", `${"(".repeat(100)}MIT${")".repeat(100)}`]) assert.equal(isSpdxExpression(bad), false, bad);
    assert.deepEqual(cycloneDxLicenses(meta("License-Expression: MIT OR Apache-2.0\nLicense: MIT\nClassifier: License :: OSI Approved :: MIT License\n")), [{ expression: "MIT OR Apache-2.0" }]);
    assert.deepEqual(cycloneDxLicenses(meta("License: mit\nClassifier: License :: OSI Approved :: MIT License\nClassifier: License :: OSI Approved :: BSD License\n")), [{ license: { id: "MIT" } }, { license: { name: "BSD License" } }]);
    assert.deepEqual(cycloneDxLicenses(null), []);
    const known = spdxIds();
    for (const id of knownSpdxIds()) assert.ok(known.has(id), `${id} is on the SPDX list`);
  });

  test("purl's pypi rule: lowercase, _ as -, dots kept; the version percent-encoded", () => {
    assert.equal(pypiPurl("Zope.Interface", "5.0"), "pkg:pypi/zope.interface@5.0");
    assert.equal(pypiPurl("typing_extensions", "4.12.2"), "pkg:pypi/typing-extensions@4.12.2");
    assert.equal(pypiPurl("x", "1!2.0+a.b"), "pkg:pypi/x@1%212.0%2Ba.b");
  });
});

describe("pylock.toml", () => {
  test("lists every distribution: those with a recorded file in [[packages]] (url, or path beside the lock), the rest under [tool.pypakr] unlocked", async () => {
    const text = pylockDocument(sampleInput());
    const lock = parseToml(text) as { "lock-version": string; "created-by": string; "requires-python": string; packages: Array<Record<string, unknown>>; tool: { pypakr: { unlocked: Array<Record<string, unknown>> } } };
    assert.equal(lock["lock-version"], "1.0");
    assert.equal(lock["created-by"], "pypakr");
    assert.equal(lock["requires-python"], "==3.11.*");
    assert.deepEqual(
      lock.packages.map((entry) => [entry.name, entry.version]),
      [
        ["demo-pkg-extra", "1.0+local.1"],
        ["flask", "3.1.0"],
      ],
    );
    assert.deepEqual(lock.packages[1]?.wheels, [{ name: "flask-3.1.0-py3-none-any.whl", url: "https://files.pythonhosted.org/packages/af/47/flask-3.1.0-py3-none-any.whl", hashes: { sha256: "a".repeat(64) } }]);
    assert.equal(lock.packages[1]?.index, "https://pypi.org/simple");
    assert.deepEqual(lock.packages[0]?.wheels, [{ name: "Demo_Pkg.Extra-1.0+local.1-py3-none-any.whl", path: "Demo_Pkg.Extra-1.0+local.1-py3-none-any.whl", hashes: { sha256: "b".repeat(64) } }]);
    assert.deepEqual(
      lock.tool.pypakr.unlocked.map((entry) => entry.name),
      ["legacy"],
    );
    assert.equal(pylockDocument({ ...sampleInput(), components: [...sampleInput().components].reverse() }), text, "the same image gives the same bytes");
    if (pythonHasPylock()) {
      assert.equal(await pylockProblem(text), "");
      assert.match(await pylockProblem(text.replace('name = "flask"', 'name = "Flask"')), /not normalized/, "the validator does check");
    }
  });

  test("an origin whose file does not name the distribution, or a version that is no PEP 440 version, is not locked (the file stays valid)", async () => {
    const input = sampleInput();
    const odd = {
      ...input,
      components: [
        { ...input.components[0], name: "other" },
        { ...input.components[0], name: "flask", version: "not.a-version!" },
        { ...input.components[0], origin: { filename: "flask-3.1.0.tar.gz", sha256: "c".repeat(64) } },
      ],
    } as SbomInput;
    const text = pylockDocument(odd);
    const lock = parseToml(text) as { packages: Array<Record<string, unknown>>; tool: { pypakr: { unlocked: unknown[] } } };
    assert.equal(lock.tool.pypakr.unlocked.length, 2);
    assert.deepEqual(lock.packages[0]?.sdist, { name: "flask-3.1.0.tar.gz", path: "flask-3.1.0.tar.gz", hashes: { sha256: "c".repeat(64) } });
    if (pythonHasPylock()) assert.equal(await pylockProblem(text), "");
  });

  test("a reference with a line break stays inside its TOML string", () => {
    const text = pylockDocument({ ...sampleInput(), reference: "evil\n[[packages]]\nname = \"x\"" });
    const lock = parseToml(text) as { packages: unknown[]; tool: { pypakr: { reference: string } } };
    assert.equal(lock.packages.length, 2);
    assert.equal(lock.tool.pypakr.reference, "evil\n[[packages]]\nname = \"x\"");
  });
});
