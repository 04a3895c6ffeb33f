/**
 * Distribution origins from pip's install report: what is kept (file name,
 * sha256, an https URL without login or query), what is passed over (odd or
 * hostile entries, a file: URL's path, a directory install), and that no
 * report, or a broken one, only means no origins.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { originFor, readInstallReport, reportArguments } from "../../../src/builder/origins.js";
import { makeTempDir, removeDir } from "../../support/helpers.js";

const HEX = "c624" + "0".repeat(60);
const OTHER = "ab".repeat(32);

function item(name: string, version: string, url: string, archive: object | undefined = { hash: `sha256=${HEX}`, hashes: { sha256: HEX } }): object {
  return { download_info: { url, ...(archive ? { archive_info: archive } : {}) }, is_direct: false, requested: true, metadata: { name, version, summary: "<script>" } };
}

describe("pip install reports", () => {
  let dir: string;
  let count = 0;
  const write = async (content: unknown): Promise<string> => {
    const file = path.join(dir, `report-${++count}.json`);
    await fs.writeFile(file, typeof content === "string" ? content : JSON.stringify(content));
    return file;
  };
  before(async () => (dir = await makeTempDir("pypakr-origins-")));
  after(() => removeDir(dir));

  test("keeps each installed file's name and sha256, and its URL only when it is https without a login or query", async () => {
    const file = await write({
      version: "1",
      pip_version: "23.2.1",
      install: [
        item("Flask", "3.1.0", "https://files.pythonhosted.org/packages/af/47/flask-3.1.0-py3-none-any.whl#sha256=abc"),
        item("its_dangerous", "2.2.0", "file:///root/.cache/wheels/itsdangerous-2.2.0-py3-none-any.whl", { hashes: { sha256: OTHER } }),
        item("private", "1.0", "https://user:token@pypi.example/private-1.0-py3-none-any.whl"),
        item("signed", "1.0", "https://bucket.example/signed-1.0.tar.gz?X-Signature=secret"),
        item("local-plus", "1.0+cpu", "https://pypi.example/local_plus-1.0%2Bcpu-py3-none-any.whl", { hash: `sha256=${HEX.toUpperCase()}` }),
      ],
      environment: {},
    });
    const origins = await readInstallReport(file);
    assert.deepEqual(originFor(origins, "flask", "3.1.0"), { filename: "flask-3.1.0-py3-none-any.whl", sha256: HEX, url: "https://files.pythonhosted.org/packages/af/47/flask-3.1.0-py3-none-any.whl" });
    assert.deepEqual(originFor(origins, "Its.Dangerous", "2.2.0"), { filename: "itsdangerous-2.2.0-py3-none-any.whl", sha256: OTHER });
    assert.deepEqual(originFor(origins, "private", "1.0"), { filename: "private-1.0-py3-none-any.whl", sha256: HEX });
    assert.deepEqual(originFor(origins, "signed", "1.0"), { filename: "signed-1.0.tar.gz", sha256: HEX });
    assert.deepEqual(originFor(origins, "local-plus", "1.0+cpu"), { filename: "local_plus-1.0+cpu-py3-none-any.whl", sha256: HEX, url: "https://pypi.example/local_plus-1.0%2Bcpu-py3-none-any.whl" });
    // Another version than the one installed is not this file's.
    assert.equal(originFor(origins, "flask", "3.0.0"), undefined);
  });

  test("passes over entries of another shape, without a sha256, naming a directory, or with a file name or URL the image format refuses", async () => {
    const file = await write({
      version: "1",
      install: [
        null,
        42,
        { metadata: { name: "nourl" } },
        item("project", "0.1", "file:///tmp/pypakr-build-x/", undefined),
        { download_info: { url: "file:///tmp/src", dir_info: {} }, metadata: { name: "dir", version: "1" } },
        item("md5only", "1.0", "https://pypi.example/md5only-1.0.tar.gz", { hash: "md5=abc" }),
        item("shortsha", "1.0", "https://pypi.example/shortsha-1.0.tar.gz", { hashes: { sha256: "abc" } }),
        item("badname", "1.0", "https://pypi.example/%3Cscript%3E.whl"),
        item("emptyname", "1.0", "https://pypi.example/"),
        item("badurl", "1.0", "https://pypi.example/a b/badurl-1.0.whl"),
        item("notaurl", "1.0", "not a url"),
        item("twice", "1.0", "https://pypi.example/twice-1.0.whl"),
        item("Twice", "1.0", "https://pypi.example/twice-1.0.tar.gz"),
        item("good", "1.0", "https://pypi.example/good-1.0-py3-none-any.whl"),
      ],
    });
    const origins = await readInstallReport(file);
    assert.deepEqual([...origins.keys()], ["badurl", "good"]);
    // A space is percent-encoded by the URL parser: the URL is kept as the parser writes it.
    assert.equal(originFor(origins, "badurl", "1.0")?.url, "https://pypi.example/a%20b/badurl-1.0.whl");
  });

  test("no report, one that is not JSON, of another version or with too many entries: no origins, no error", async () => {
    assert.equal((await readInstallReport(path.join(dir, "absent.json"))).size, 0);
    assert.equal((await readInstallReport(dir)).size, 0);
    assert.equal((await readInstallReport(await write("{not json"))).size, 0);
    assert.equal((await readInstallReport(await write({ version: "0", install: [item("a", "1", "https://x.example/a-1.whl")] }))).size, 0);
    assert.equal((await readInstallReport(await write({ version: "1", install: Array.from({ length: 10_001 }, () => 0) }))).size, 0);
  });

  test("--report is passed to pip 23.0 and later only (22.x wrote an experimental format, older ones know no --report)", async () => {
    const env = (pip: string) => path.join(dir, `env-${pip}`);
    for (const pip of ["23.2.1", "22.3.1", "24.0"]) await fs.mkdir(path.join(env(pip), "lib", "python3.11", "site-packages", `pip-${pip}.dist-info`), { recursive: true });
    assert.deepEqual(await reportArguments(env("23.2.1"), "/tmp/r.json"), ["--report", "/tmp/r.json"]);
    assert.deepEqual(await reportArguments(env("24.0"), "/tmp/r.json"), ["--report", "/tmp/r.json"]);
    assert.deepEqual(await reportArguments(env("22.3.1"), "/tmp/r.json"), []);
    assert.deepEqual(await reportArguments(path.join(dir, "no-env"), "/tmp/r.json"), []);
  });
});
