/**
 * RegistryBrowser (the hub's view of a registry) against a real registry
 * (Debian's docker-registry 2.8 on 127.0.0.1): the catalog across pages,
 * sorted tags, an OCI manifest by tag, verified blobs, delete by digest and
 * a registry with deletes off; and against a small in-process registry that
 * lies (FakeRegistry): a next page on another origin or in a loop, an endless
 * tag list, names outside the grammar, wrong blob bytes, a refused page size.
 */
import assert from "node:assert/strict";
import type * as http from "node:http";
import { after, before, describe, test } from "node:test";
import { pushOrdinaryImage, RegistryBrowser } from "../../src/registry/index.js";
import { makeTempDir, removeDir } from "../support/helpers.js";
import { ordinaryImage, type OrdinaryTestImage, refusedWith } from "../support/ordinary.js";
import { digestOf, FakeRegistry, startRegistry, type Registry } from "../support/registry.js";

const FAST = { retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 } };
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

async function all(names: AsyncIterable<string>): Promise<string[]> {
  const result: string[] = [];
  for await (const name of names) result.push(name);
  return result;
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function json(res: http.ServerResponse, value: unknown, headers: Record<string, string> = {}): true {
  res.writeHead(200, { "content-type": "application/json", ...headers }).end(JSON.stringify(value));
  return true;
}

describe("RegistryBrowser and a real registry", () => {
  let work: string;
  let registry: Registry;
  let noDelete: Registry;
  let first: OrdinaryTestImage;
  let second: OrdinaryTestImage;
  let browser: RegistryBrowser;

  before(async () => {
    work = await makeTempDir("pypakr-browse-");
    [registry, noDelete] = await Promise.all([startRegistry(), startRegistry({ deleteEnabled: false })]);
    first = await ordinaryImage(work, { layerCount: 1 });
    second = await ordinaryImage(work, { layerCount: 1 });
    // Pushed in no order, as a registry keeps tags in none.
    for (const tag of ["latest", "b", "a", "10"]) await pushOrdinaryImage(`${registry.host}/team/app:${tag}`, first, FAST);
    await pushOrdinaryImage(`${registry.host}/team/app:2`, second, FAST);
    await pushOrdinaryImage(`${registry.host}/team/other:1`, first, FAST);
    await pushOrdinaryImage(`${registry.host}/solo:1`, first, FAST);
    await pushOrdinaryImage(`${noDelete.host}/kept:1`, first, FAST);
    browser = new RegistryBrowser(`http://${registry.host}`, { ...FAST, pageSize: 2 });
  });
  after(async () => {
    await browser.close();
    await Promise.all([registry.stop(), noDelete.stop()]);
    await removeDir(work);
  });

  test("repositories() pages through the catalog (2 names a page for 3 repositories), following the registry's relative Link", async () => {
    assert.equal(browser.registry, registry.host);
    assert.deepEqual(await all(browser.repositories()), ["solo", "team/app", "team/other"]);
    // The default page (1,000 names) gives the same in one request.
    const whole = new RegistryBrowser(registry.host, FAST);
    try {
      assert.deepEqual(await all(whole.repositories()), ["solo", "team/app", "team/other"]);
    } finally {
      await whole.close();
    }
  });

  test("tags() are sorted (the registry lists them in no order)", async () => {
    assert.deepEqual(await browser.tags("team/app"), ["10", "2", "a", "b", "latest"]);
    await assert.rejects(browser.tags("team/none"), refusedWith("registry-not-found", /HTTP 404/));
    await assert.rejects(browser.tags("Team/App"), refusedWith("bad-reference", /not a repository name/));
  });

  test("manifest() by tag and by digest gets an OCI manifest (which 2.8 serves only when asked for by type), verified", async () => {
    const byTag = await browser.manifest("team/app", "latest");
    assert.equal(byTag.digest, first.manifestDigest);
    assert.equal(byTag.mediaType, OCI_MANIFEST);
    assert.deepEqual(byTag.bytes, first.manifestBytes);
    const byDigest = await browser.manifest("team/app", second.manifestDigest);
    assert.equal(byDigest.digest, second.manifestDigest);
    await assert.rejects(browser.manifest("team/app", "no such tag!"), refusedWith("bad-reference", /neither a tag nor a digest/));
  });

  test("openBlob() streams a layer and readBlob() reads a config, both verified; a config larger than the limit is refused before it travels", async () => {
    const manifest = JSON.parse(first.manifestBytes.toString("utf8")) as { config: { mediaType: string; digest: string; size: number }; layers: { mediaType: string; digest: string; size: number }[] };
    const layer = manifest.layers[0];
    assert.ok(layer);
    assert.deepEqual(await readAll(await browser.openBlob("team/app", layer)), first.layers[0]);
    assert.deepEqual(await browser.readBlob("team/app", manifest.config, 64 * 1024), first.configBytes);
    await assert.rejects(browser.readBlob("team/app", manifest.config, 10), refusedWith("too-large", /more than the 10/));
    // A descriptor that lies about the size: the registry's Content-Length gives it away before a byte is read.
    await assert.rejects(browser.openBlob("team/app", { ...layer, size: layer.size + 1 }), refusedWith("registry-bad-data", /announced/));
  });

  test("deleteManifest() by digest removes every tag on it (the other repository keeps its own); gone again is no error; the emptied list is []", async () => {
    await browser.deleteManifest("team/app", first.manifestDigest);
    assert.deepEqual(await browser.tags("team/app"), ["2"]);
    assert.deepEqual(await browser.tags("team/other"), ["1"]);
    await browser.deleteManifest("team/app", first.manifestDigest);
    await browser.deleteManifest("team/app", second.manifestDigest);
    // 2.8 answers `"tags": null` for a repository whose manifests are all deleted, and keeps it in the catalog.
    assert.deepEqual(await browser.tags("team/app"), []);
    assert.deepEqual(await all(browser.repositories()), ["solo", "team/app", "team/other"]);
  });

  test("deleteManifest() on a registry without storage.delete.enabled says how to turn it on", async () => {
    const other = new RegistryBrowser(`http://${noDelete.host}`, FAST);
    try {
      await assert.rejects(other.deleteManifest("kept", first.manifestDigest), refusedWith("registry-delete-disabled", /does not allow deleting \(it answered HTTP 405/));
      await assert.rejects(other.deleteManifest("kept", first.manifestDigest), (error: Error & { hint?: string }) => /storage\.delete\.enabled: true/.test(error.hint ?? ""));
      assert.deepEqual(await other.tags("kept"), ["1"]);
    } finally {
      await other.close();
    }
  });
});

describe("RegistryBrowser and a registry with token authentication", () => {
  test("the catalog is read with the registry:catalog:* scope and a delete asks for repository:NAME:delete, which the registry demands", async () => {
    const registry = await startRegistry({ auth: "token" });
    const work = await makeTempDir("pypakr-browse-token-");
    const credentials = { username: "tester", secret: registry.users.tester ?? "" };
    const browser = new RegistryBrowser(registry.host, { ...FAST, credentials });
    try {
      const image = await ordinaryImage(work, { layerCount: 1 });
      await pushOrdinaryImage(`${registry.host}/team/app:1`, image, { ...FAST, credentials });
      assert.deepEqual(await all(browser.repositories()), ["team/app"]);
      assert.deepEqual(await browser.tags("team/app"), ["1"]);
      await browser.deleteManifest("team/app", image.manifestDigest);
      assert.deepEqual(await browser.tags("team/app"), []);
      const granted = registry.tokenRequests.flatMap((request) => request.granted);
      assert.ok(granted.includes("registry:catalog:*"), granted.join(" "));
      assert.ok(granted.includes("repository:team/app:delete"), granted.join(" "));
      // Without credentials the token grants nothing, and the catalog is refused.
      const anonymous = new RegistryBrowser(registry.host, { ...FAST, credentials: null });
      try {
        await assert.rejects(all(anonymous.repositories()), (error: Error & { code?: string }) => error.code === "registry-denied" || error.code === "registry-login-required");
      } finally {
        await anonymous.close();
      }
    } finally {
      await browser.close();
      await registry.stop();
      await removeDir(work);
    }
  });
});

describe("RegistryBrowser and a registry that lies", () => {
  let fake: FakeRegistry;
  let elsewhere: FakeRegistry;
  let browser: RegistryBrowser;

  before(async () => {
    fake = new FakeRegistry();
    elsewhere = new FakeRegistry();
    await fake.start();
    await elsewhere.start("127.0.0.2");
    browser = new RegistryBrowser(`http://${fake.host}`, FAST);
  });
  after(async () => {
    await browser.close();
    await fake.stop();
    await elsewhere.stop();
  });

  test("a next page on another origin is not followed (and nothing is sent there), nor a list redirected there; names outside the grammar and repeated ones are passed over", async () => {
    fake.hook = (_req, res, url) =>
      url.pathname === "/v2/_catalog" && json(res, { repositories: ["ok/one", "Bad/Name", "../x", 42, "ok/one", "a".repeat(300), "ok/two"] }, { link: `<http://${elsewhere.host}/v2/_catalog?last=ok%2Ftwo&n=1000>; rel="next"` });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const name of browser.repositories()) seen.push(name);
      })(),
      refusedWith("registry-misbehaved", /links the next page of the catalog to http:\/\/127\.0\.0\.2.*did not follow it/),
    );
    assert.deepEqual(seen, ["ok/one", "ok/two"]);
    assert.equal(elsewhere.log.length, 0);
    // Nor is a list the registry redirects to another origin taken from there.
    fake.hook = (_req, res, url) => url.pathname.endsWith("/tags/list") && (res.writeHead(307, { location: `http://${elsewhere.host}/v2/app/tags/list` }).end(), true);
    elsewhere.hook = (_req, res, url) => url.pathname.endsWith("/tags/list") && json(res, { tags: ["planted"] });
    await assert.rejects(browser.tags("app"), refusedWith("registry-misbehaved", /sent the tags of app on to http:\/\/127\.0\.0\.2/));
    elsewhere.hook = undefined;
  });

  test("a next page that leads back to an earlier one ends in an error, not a loop; a Link to another path on the registry is not followed either", async () => {
    fake.hook = (_req, res, url) => url.pathname === "/v2/_catalog" && json(res, { repositories: [`r${url.searchParams.get("last") ?? "0"}`] }, { link: `</v2/_catalog?last=${url.searchParams.get("last") === "1" ? "0" : "1"}>; rel="next"` });
    await assert.rejects(all(browser.repositories()), refusedWith("registry-misbehaved", /lead back to/));
    fake.hook = (_req, res, url) => url.pathname.endsWith("/tags/list") && json(res, { tags: ["1"] }, { link: "</v2/other/tags/list>; rel=next" });
    await assert.rejects(browser.tags("app"), refusedWith("registry-misbehaved", /not \/v2\/app\/tags\/list/));
  });

  test("a registry that refuses the page size (400, as distribution does past 1,000) is asked for its default", async () => {
    const asked: string[] = [];
    fake.hook = (_req, res, url) => {
      if (url.pathname !== "/v2/_catalog") return false;
      asked.push(url.search);
      if (url.searchParams.has("n")) {
        res.writeHead(400, { "content-type": "application/json" }).end('{"errors":[{"code":"PAGINATION_NUMBER_INVALID"}]}');
        return true;
      }
      return json(res, { repositories: ["a", "b"] });
    };
    assert.deepEqual(await all(browser.repositories()), ["a", "b"]);
    assert.deepEqual(asked, ["?n=1000", ""]);
  });

  test("an endless tag list (pages of 3,000 that always Link on) ends at 10,000 tags, sorted; `null`, bad tags and a page past the byte limit are handled", async () => {
    let pages = 0;
    fake.hook = (_req, res, url) => {
      if (!url.pathname.endsWith("/tags/list")) return false;
      const page = Number(url.searchParams.get("page") ?? 0);
      pages++;
      const tags = Array.from({ length: 3000 }, (_, i) => `t${String(page * 3000 + 2999 - i).padStart(6, "0")}`);
      return json(res, { name: "app", tags: [...tags, "-bad", "x".repeat(129)] }, { link: `</v2/app/tags/list?page=${page + 1}>; rel="next"` });
    };
    const tags = await browser.tags("app");
    assert.equal(pages, 4);
    assert.equal(tags.length, 10_000);
    assert.equal(tags[0], "t000000");
    assert.equal(tags.at(-1), "t009999");
    assert.deepEqual(tags, [...tags].sort());
    fake.hook = (_req, res, url) => url.pathname.endsWith("/tags/list") && json(res, { name: "app", tags: null });
    assert.deepEqual(await browser.tags("app"), []);
    fake.hook = (_req, res, url) => url.pathname.endsWith("/tags/list") && json(res, { name: "app", tags: ["x".repeat(5 * 1024 * 1024)] });
    await assert.rejects(browser.tags("app"), refusedWith("too-large", /more than 4194304 bytes/));
    fake.hook = (_req, res, url) => url.pathname.endsWith("/tags/list") && (res.writeHead(200).end("<html>not json</html>"), true);
    await assert.rejects(browser.tags("app"), refusedWith("registry-misbehaved", /not the JSON/));
  });

  test("openBlob() fails at the end of the stream when the bytes do not hash to the digest, and as soon as they overrun the size", async () => {
    const real = Buffer.from("the real bytes of a layer");
    const descriptor = { mediaType: "application/octet-stream", digest: digestOf(real), size: real.length };
    fake.hook = (_req, res, url) => url.pathname.includes("/blobs/") && (res.writeHead(200, { "content-length": real.length }).end(Buffer.from("THE REAL BYTES OF A LAYER")), true);
    const stream = await browser.openBlob("app", descriptor);
    await assert.rejects(readAll(stream), refusedWith("registry-bad-data", /hash to sha256:/));
    await assert.rejects(browser.readBlob("app", descriptor, 1024), refusedWith("registry-bad-data", /hash to sha256:/));
    // Chunked (no Content-Length) and endless: stopped at the first byte past the size.
    fake.hook = (_req, res, url) => {
      if (!url.pathname.includes("/blobs/")) return false;
      res.writeHead(200);
      res.write(real);
      res.write(Buffer.alloc(64 * 1024));
      return true;
    };
    await assert.rejects(readAll(await browser.openBlob("app", descriptor)), refusedWith("registry-bad-data", /more than the 25 bytes/));
    fake.hook = (_req, res, url) => url.pathname.includes("/blobs/") && (res.writeHead(200).end(real.subarray(0, 5)), true);
    await assert.rejects(readAll(await browser.openBlob("app", descriptor)), refusedWith("registry-bad-data", /5 of the 25 bytes/));
    await assert.rejects(browser.openBlob("app", { ...descriptor, digest: "sha256:../../x" }), refusedWith("bad-reference", /not a digest/));
  });

  test("acceptsAuthorization() asks the registry with exactly the browser's Basic header, and refuses other kinds without asking", async () => {
    fake.hook = undefined;
    fake.auth = { kind: "basic", user: "george", password: "right" };
    try {
      const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
      assert.equal(await browser.acceptsAuthorization(basic("george", "right")), true);
      assert.equal(await browser.acceptsAuthorization(basic("george", "wrong")), false);
      const before = fake.log.length;
      assert.equal(await browser.acceptsAuthorization("Bearer abc"), false);
      assert.equal(await browser.acceptsAuthorization(`${basic("george", "right")}\r\nX-Evil: 1`), false);
      assert.equal(fake.log.length, before);
    } finally {
      fake.auth = undefined;
    }
  });

  test("the registry address: plain HTTP off loopback needs insecure; a path, query or login is refused", () => {
    assert.throws(() => new RegistryBrowser("http://registry.example"), refusedWith("unsafe-transport", /plain HTTP/));
    assert.equal(new RegistryBrowser("http://registry.example:5000", { insecure: true }).baseUrl.href, "http://registry.example:5000/");
    assert.equal(new RegistryBrowser("registry.example").baseUrl.href, "https://registry.example/");
    assert.equal(new RegistryBrowser("https://127.0.0.1:5443").baseUrl.href, "https://127.0.0.1:5443/");
    assert.equal(new RegistryBrowser("https://Registry.Example:443/").registry, "registry.example");
    for (const bad of ["https://registry.example/team", "https://u:p@registry.example", "https://registry.example/?x=1", "ftp://registry.example"]) {
      assert.throws(() => new RegistryBrowser(bad), refusedWith("bad-reference", /registry|http/), bad);
    }
  });
});
