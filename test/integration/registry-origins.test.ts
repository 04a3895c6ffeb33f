/**
 * Credentials go only to the registry the user named (its origin: scheme,
 * host and port) and to the token service that registry's own challenge
 * names; and pypakr follows no URL over plain HTTP to a host off loopback
 * without --insecure. Each case runs a fake registry on 127.0.0.1 and an
 * "other host" on 127.0.0.2 (both loopback, so nothing leaves the machine)
 * that a hostile or misconfigured registry sends pypakr to: an upload
 * Location, a PATCH answer, a redirect, a token realm. The other host logs
 * every request, and each test asserts what never reached it.
 */
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import * as fs from "node:fs/promises";
import type * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { loadConfig, type Config } from "../../src/config/config.js";
import { Transport } from "../../src/registry/http.js";
import { pullImage } from "../../src/registry/pull.js";
import { pushImage } from "../../src/registry/push.js";
import { addImageArchive } from "../../src/store/images.js";
import { recordBlobSources } from "../../src/store/registry-sources.js";
import { Store } from "../../src/store/store.js";
import { PypakrError } from "../../src/util/errors.js";
import { expectCleanFailure, expectOk, pypakr } from "../support/helpers.js";
import { digestOf, FAKE_TOKEN, FakeRegistry, makeImage } from "../support/registry.js";

const USER = "george";
const PASSWORD = "pw-origins-61";
const REFRESH = "refresh-origins-73";
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
const CREDENTIALS = { username: USER, secret: PASSWORD };
const FAST = { retry: { baseDelayMs: 1, maxDelayMs: 5 } };
/** For URLs that must never be connected to: one try, so the old code fails fast rather than retrying an unroutable address. */
const ONCE = { retry: { attempts: 1 } };

/** Reads a request's body (a hook answers before FakeRegistry reads it). */
async function bodyOf(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function assertNoCredentials(log: FakeRegistry["log"], what: string): void {
  const carrying = log.filter((entry) => entry.headers.authorization !== undefined);
  assert.deepEqual(carrying.map((entry) => `${entry.method} ${entry.path}`), [], `${what} got an Authorization header`);
}

describe("credentials go only to the registry's origin", () => {
  let work: string;
  let registry: FakeRegistry;
  let other: FakeRegistry;
  let sender: Config;
  let image: Awaited<ReturnType<typeof makeImage>>;
  let homes = 0;
  /** host:port of every connection undici opened (its diagnostics channel), to prove none went where it must not. */
  const connections: string[] = [];
  const onConnect = (message: unknown) => {
    const params = (message as { connectParams: { hostname: string; port: string } }).connectParams;
    connections.push(`${params.hostname}:${params.port}`);
  };
  const freshConfig = async (): Promise<Config> => {
    const dir = path.join(work, `home-${++homes}`);
    await fs.mkdir(dir);
    return loadConfig({ HOME: dir, PYPAKR_HOME: dir });
  };
  /** The registry answers an authenticated upload start with `location(id)` for a session it opened on `where`. */
  const uploadsGoTo = (where: FakeRegistry, location: (id: string) => string) => {
    let sessions = 0;
    registry.hook = async (req, res, url) => {
      if (req.method !== "POST" || !url.pathname.endsWith("/blobs/uploads/") || !req.headers.authorization) return false;
      await bodyOf(req);
      const id = `moved${++sessions}`;
      where.uploads.set(id, { repo: "team/app", chunks: [] });
      res.writeHead(202, { location: location(id) }).end();
      return true;
    };
  };
  /** The registry answers an authenticated blob GET with a 307 to the same digest on the other host. */
  const blobsRedirectToOther = () => {
    registry.hook = (req, res, url) => {
      if (req.method !== "GET" || !url.pathname.includes("/blobs/") || !req.headers.authorization) return false;
      res.writeHead(307, { location: `http://${other.host}/v2/s/blobs/${url.pathname.split("/").pop() ?? ""}` }).end();
      return true;
    };
  };

  before(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-origins-"));
    registry = new FakeRegistry();
    await registry.start("127.0.0.1");
    other = new FakeRegistry();
    await other.start("127.0.0.2");
    sender = await freshConfig();
    image = await makeImage(work, [3000, 70_000, 100]);
    await addImageArchive(await Store.open(sender), image.file, { tag: "app:1" });
    // The image the pull tests fetch (pushed without auth), and the other host's copy of its blobs.
    await pushImage(sender, "app:1", `${registry.host}/team/app:1`, FAST);
    for (const [digest, bytes] of registry.blobs) {
      other.blobs.set(digest, bytes);
      other.repos.set("s", new Set([...(other.repos.get("s") ?? []), digest]));
    }
    subscribe("undici:client:beforeConnect", onConnect);
  });
  after(async () => {
    unsubscribe("undici:client:beforeConnect", onConnect);
    await registry.stop();
    await other.stop();
    await fs.rm(work, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const server of [registry, other]) {
      server.hook = undefined;
      server.auth = undefined;
      server.tokenService = undefined;
      server.log.length = 0;
    }
    connections.length = 0;
  });
  afterEach(() => {
    // Whatever else a case asserts, the other host never got the registry's credentials, except as
    // the token realm the registry's own challenge named (the cases that make it a tokenService).
    const carrying = other.log.filter((entry) => entry.headers.authorization !== undefined && !(other.tokenService && entry.path.startsWith("/token")));
    assert.deepEqual(carrying.map((entry) => `${entry.method} ${entry.path} ${entry.headers.authorization ?? ""}`), [], "the other host got credentials");
  });

  test("push: an upload Location on another host gets the blobs without credentials (as Docker sends them)", async () => {
    registry.auth = { kind: "basic", user: USER, password: PASSWORD };
    uploadsGoTo(other, (id) => `http://${other.host}/upload/${id}`);
    const pushed = await pushImage(sender, "app:1", `${registry.host}/team/moved:1`, { ...FAST, credentials: CREDENTIALS });
    assert.equal(pushed.uploaded, 4);
    assert.equal(other.log.filter((entry) => entry.method === "PUT" && entry.path.startsWith("/upload/")).length, 4, "every blob went to the other host");
    for (const layer of image.layers) assert.ok(other.repos.get("team/app")?.has(digestOf(layer)));
    assertNoCredentials(other.log, "the upload host");
    assert.ok(registry.log.some((entry) => entry.method === "PUT" && entry.path.includes("/manifests/") && entry.headers.authorization === BASIC), "the registry itself still gets them");
  });

  test("push: an upload host that asks for credentials gets none, and the push stops naming it", async () => {
    registry.auth = { kind: "basic", user: USER, password: PASSWORD };
    other.auth = { kind: "basic", user: USER, password: PASSWORD };
    uploadsGoTo(other, (id) => `http://${other.host}/upload/${id}`);
    await assert.rejects(pushImage(sender, "app:1", `${registry.host}/team/moved:2`, { ...FAST, credentials: CREDENTIALS }), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.match(error.message, new RegExp(`^http://${other.host.replace(/\./g, "\\.")} asked for credentials .* only to registry ${registry.host.replace(/\./g, "\\.")}`));
      assert.match(error.hint ?? "", /operator/);
      return true;
    });
    assert.ok(other.log.length > 0);
    assertNoCredentials(other.log, "the upload host");
  });

  test("push: an upload Location over plain HTTP to 0.0.0.0 (not loopback) is refused before anything is sent", async () => {
    registry.auth = { kind: "basic", user: USER, password: PASSWORD };
    // On Linux 0.0.0.0:PORT reaches the registry itself, so a request sent there would show in its log.
    uploadsGoTo(registry, (id) => `http://0.0.0.0:${registry.port}/upload/${id}`);
    await assert.rejects(pushImage(sender, "app:1", `${registry.host}/team/zero:1`, { ...FAST, credentials: CREDENTIALS }), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.match(error.message, /upload location at 0\.0\.0\.0:\d+\/upload\/moved\d over plain HTTP, which pypakr speaks only to loopback/);
      assert.match(error.hint ?? "", /--insecure/);
      return true;
    });
    assert.deepEqual(registry.log.filter((entry) => entry.path.startsWith("/upload/")), []);
    assert.deepEqual(connections.filter((where) => where.startsWith("0.0.0.0:")), []);
  });

  test("push: --insecure lets an upload Location on 0.0.0.0 be used, but not with credentials (another origin), and not to answer its 401", async () => {
    registry.auth = { kind: "basic", user: USER, password: PASSWORD };
    uploadsGoTo(registry, (id) => `http://0.0.0.0:${registry.port}/upload/${id}`);
    // The fake registry challenges every request without a login, the ones reaching it as 0.0.0.0 too.
    await assert.rejects(pushImage(sender, "app:1", `${registry.host}/team/zero:2`, { ...FAST, insecure: true, credentials: CREDENTIALS }), /^PypakrError: http:\/\/0\.0\.0\.0:\d+ asked for credentials/);
    const uploads = registry.log.filter((entry) => entry.path.startsWith("/upload/"));
    assert.ok(uploads.length > 0, "--insecure allows plain HTTP there");
    assert.deepEqual(uploads.filter((entry) => entry.headers.authorization !== undefined), [], "0.0.0.0 is not the origin the user named");
  });

  for (const location of ["file:///etc/passwd", "ftp://127.0.0.2/upload/x", "data:,hello"]) {
    test(`push: an upload Location ${location.split(":")[0]}: is refused`, async () => {
      registry.auth = { kind: "basic", user: USER, password: PASSWORD };
      uploadsGoTo(other, () => location);
      await assert.rejects(pushImage(sender, "app:1", `${registry.host}/team/scheme:1`, { ...FAST, credentials: CREDENTIALS }), /with an upload location at an unsupported kind of address \((file|ftp|data):\)/);
      assert.deepEqual(other.log, []);
    });
  }

  test("push: a PATCH answer that moves the session to another host sends the rest there without credentials", async () => {
    registry.auth = { kind: "basic", user: USER, password: PASSWORD };
    registry.hook = async (req, res, url) => {
      const id = /^\/upload\/(\w+)$/.exec(url.pathname)?.[1] ?? "";
      const session = registry.uploads.get(id);
      if (req.method !== "PATCH" || !session || !req.headers.authorization) return false;
      // Takes the first chunk here, then hands the session (with that chunk) to the other host.
      session.chunks.push(await bodyOf(req));
      registry.uploads.delete(id);
      other.uploads.set(id, session);
      res.writeHead(202, { location: `http://${other.host}/upload/${id}` }).end();
      return true;
    };
    await pushImage(sender, "app:1", `${registry.host}/team/chunked:1`, { ...FAST, chunkSize: 16_384, credentials: CREDENTIALS });
    const big = digestOf(image.layers[1] as Buffer);
    assert.ok(other.repos.get("team/chunked")?.has(big), "the chunked blob was finished on the other host");
    assert.ok(other.log.filter((entry) => entry.method === "PATCH").length >= 3);
    assert.ok(other.log.some((entry) => entry.method === "PUT"));
    assertNoCredentials(other.log, "the host the session moved to");
  });

  for (const kind of ["bearer", "basic"] as const) {
    test(`pull: a blob redirected to another host that answers with a ${kind === "bearer" ? "Bearer challenge (realm on that host)" : "Basic challenge"} is a clear error; it gets no credentials`, async () => {
      registry.auth = { kind: "basic", user: USER, password: PASSWORD };
      other.auth = { kind, user: USER, password: PASSWORD };
      blobsRedirectToOther();
      await assert.rejects(pullImage(await freshConfig(), `${registry.host}/team/app:1`, { ...FAST, credentials: CREDENTIALS }), (error: unknown) => {
        assert.ok(error instanceof PypakrError);
        assert.match(error.message, new RegExp(`^http://127\\.0\\.0\\.2:${other.port} asked for credentials \\(at 127\\.0\\.0\\.2:${other.port}/v2/s/blobs/sha256:[0-9a-f]{64}\\), and pypakr sends credentials only to registry`));
        return true;
      });
      assert.ok(other.log.some((entry) => entry.path.startsWith("/v2/s/blobs/")), "the redirect was followed");
      assert.deepEqual(other.log.filter((entry) => entry.path.startsWith("/token")), [], "the other host's token service was never asked");
      assertNoCredentials(other.log, "the storage host");
    });
  }

  test("pull: the registry's own Bearer challenge may name a token service on another host; the token goes only to the registry", async () => {
    registry.auth = { kind: "bearer", user: USER, password: PASSWORD, realm: `http://${other.host}/token` };
    other.tokenService = { user: USER, password: PASSWORD };
    blobsRedirectToOther();
    const pulled = await pullImage(await freshConfig(), `${registry.host}/team/app:1`, { ...FAST, credentials: CREDENTIALS });
    assert.equal(pulled.digest, image.digest);
    const tokenRequests = other.log.filter((entry) => entry.path.startsWith("/token"));
    assert.ok(tokenRequests.length > 0 && tokenRequests.every((entry) => entry.headers.authorization === BASIC), "the realm the registry named gets the credentials");
    assertNoCredentials(other.log.filter((entry) => !entry.path.startsWith("/token")), "the storage host");
    assert.ok(other.log.some((entry) => entry.path.startsWith("/v2/s/blobs/")), "blobs came from the storage host");
    assert.ok(registry.log.some((entry) => entry.headers.authorization === `Bearer ${FAKE_TOKEN}`));
  });

  test("push: a token from a realm on another host is not sent to an upload Location on that host", async () => {
    registry.auth = { kind: "bearer", user: USER, password: PASSWORD, realm: `http://${other.host}/token` };
    other.tokenService = { user: USER, password: PASSWORD };
    uploadsGoTo(other, (id) => `http://${other.host}/upload/${id}`);
    await pushImage(sender, "app:1", `${registry.host}/team/realm:1`, { ...FAST, credentials: CREDENTIALS });
    const uploads = other.log.filter((entry) => entry.path.startsWith("/upload/"));
    assert.equal(uploads.length, 4);
    assert.ok(uploads.every((entry) => entry.headers.authorization === undefined), "no Bearer token at the upload host");
  });

  test("push: a mount source that is not a repository name (a damaged hint file) is never put in a scope or a query", async () => {
    const store = await Store.open(sender);
    const digests = [image.digest, ...image.layers.map((layer) => digestOf(layer))];
    await recordBlobSources(store, registry.host, "team/app", digests);
    // Newest, so tried first: what a hand-edited registry-sources.json could hold, a name that would widen the token's scope.
    await recordBlobSources(store, registry.host, "team/app:pull,push repository:other/secret:*", digests);
    registry.auth = { kind: "bearer", user: USER, password: PASSWORD };
    const pushed = await pushImage(sender, "app:1", `${registry.host}/team/mounted:1`, { ...FAST, credentials: CREDENTIALS });
    assert.ok(pushed.mounted > 0);
    const asked = registry.log.filter((entry) => entry.path.includes("mount=") || entry.path.startsWith("/token"));
    assert.ok(asked.some((entry) => entry.path.includes("from=team%2Fapp")), "a real repository name is used for the mount");
    assert.deepEqual(asked.filter((entry) => decodeURIComponent(entry.path.replace(/\+/g, " ")).includes("other/secret")), []);
  });

  const refusedRealms: { realm: () => string; expected: RegExp }[] = [
    // An IPv4-mapped loopback address: pypakr's rule calls it off loopback, yet a regression would only ever reach this machine.
    { realm: () => `http://[::ffff:127.0.0.1]:${registry.port}/token`, expected: /names as its token service \[::ffff:7f00:1\]:\d+\/token over plain HTTP/ },
    { realm: () => `http://0.0.0.0:${registry.port}/token`, expected: /names as its token service 0\.0\.0\.0:\d+\/token over plain HTTP/ },
    { realm: () => "ftp://127.0.0.2/token", expected: /names as its token service an unsupported kind of address \(ftp:\)/ },
    { realm: () => "file:///etc/passwd", expected: /unsupported kind of address \(file:\)/ },
    { realm: () => "data:application/json,{}", expected: /unsupported kind of address \(data:\)/ },
  ];
  for (const [i, { realm, expected }] of refusedRealms.entries()) {
    for (const credentials of [CREDENTIALS, null]) {
      test(`pull: a token realm that is not https or loopback is refused before any connection (case ${i + 1}, ${credentials ? "with a login" : "anonymous"})`, async () => {
        const named = realm();
        registry.auth = { kind: "bearer", user: USER, password: PASSWORD, realm: named };
        await assert.rejects(pullImage(await freshConfig(), `${registry.host}/team/app:1`, { ...ONCE, credentials }), expected);
        assert.deepEqual(connections.filter((where) => where !== registry.host), [], `a connection was opened for ${named}`);
        assert.deepEqual(registry.log.filter((entry) => entry.path.startsWith("/token")), []);
      });
    }
  }

  test("an identity token's POST is not followed to another host when the realm redirects", async () => {
    registry.auth = { kind: "bearer", user: USER, password: PASSWORD, realm: `http://${registry.host}/token-moved` };
    registry.hook = (_req, res, url) => {
      if (url.pathname !== "/token-moved") return false;
      res.writeHead(307, { location: `http://${other.host}/token` }).end();
      return true;
    };
    await assert.rejects(pullImage(await freshConfig(), `${registry.host}/team/app:1`, { ...ONCE, credentials: { username: "<token>", secret: REFRESH } }), /redirected pypakr to 127\.0\.0\.2:\d+\/token, another host, with a secret/);
    assert.deepEqual(other.log, [], "the refresh token's form never reached the other host");
  });

  test("a realm's redirect to another host drops the Basic credentials, and that host's 401 is not blamed on the login", async () => {
    registry.auth = { kind: "bearer", user: USER, password: PASSWORD, realm: `http://${registry.host}/token-moved` };
    other.tokenService = { user: USER, password: PASSWORD };
    registry.hook = (_req, res, url) => {
      if (url.pathname !== "/token-moved") return false;
      res.writeHead(307, { location: `http://${other.host}/token` }).end();
      return true;
    };
    await assert.rejects(pullImage(await freshConfig(), `${registry.host}/team/app:1`, { ...ONCE, credentials: CREDENTIALS }), /127\.0\.0\.2:\d+ asked for credentials/);
    assert.equal(other.log.length, 1);
    assert.equal(other.log[0]?.headers.authorization, undefined);
  });

  test("pull: a redirect over plain HTTP to a host off loopback is refused before it is followed", async () => {
    registry.hook = (req, res, url) => {
      if (req.method !== "GET" || !url.pathname.includes("/blobs/")) return false;
      res.writeHead(307, { location: `http://0.0.0.0:${registry.port}/v2/team/app/blobs/${url.pathname.split("/").pop() ?? ""}` }).end();
      return true;
    };
    await assert.rejects(pullImage(await freshConfig(), `${registry.host}/team/app:1`, ONCE), /redirects pypakr to 0\.0\.0\.0:\d+\/v2\/team\/app\/blobs\/sha256:[0-9a-f]{64} over plain HTTP/);
    assert.deepEqual(connections.filter((where) => where.startsWith("0.0.0.0:")), []);
  });
});

describe("Transport: where requests and credentials may go", () => {
  test("isRegistryOrigin holds for the registry's scheme, host and port only", async () => {
    const local = new Transport("127.0.0.1:5000");
    const remote = new Transport("reg.example.com");
    try {
      assert.equal(local.isRegistryOrigin(new URL("http://127.0.0.1:5000/v2/x")), true);
      assert.equal(local.isRegistryOrigin(new URL("http://127.1:5000/v2/x")), true, "the same address, spelled short");
      for (const url of ["https://127.0.0.1:5000/", "http://127.0.0.2:5000/", "http://localhost:5000/", "http://127.0.0.1:5001/", "http://0.0.0.0:5000/", "http://[::1]:5000/"]) {
        assert.equal(local.isRegistryOrigin(new URL(url)), false, url);
      }
      assert.equal(remote.isRegistryOrigin(new URL("https://reg.example.com:443/v2/")), true);
      for (const url of ["http://reg.example.com/", "https://reg.example.com:8443/", "https://reg.example.com.evil.test/", "https://storage.reg.example.com/"]) {
        assert.equal(remote.isRegistryOrigin(new URL(url)), false, url);
      }
      assert.throws(() => local.url("//127.0.0.2:5000/v2/"), /not a path on registry/);
    } finally {
      await local.close();
      await remote.close();
    }
  });

  test("checkUrl: https anywhere; plain HTTP to loopback, or anywhere with --insecure; nothing but http(s)", async () => {
    const strict = new Transport("reg.example.com");
    const insecure = new Transport("reg.example.com", { insecure: true });
    try {
      const allowed = ["https://storage.example.net/blob?sig=1", "https://10.1.2.3/", "http://127.0.0.1:5000/", "http://127.255.0.9/", "http://localhost:8080/", "http://[::1]:5000/", "http://2130706433/"];
      const plain = ["http://10.1.2.3/token", "http://0.0.0.0:5000/", "http://reg.example.com/", "http://[::]/", "http://localhost.evil.test/", "http://127.0.0.1.evil.test/", "http://[::ffff:10.0.0.1]/"];
      const unsupported = ["file:///etc/passwd", "ftp://127.0.0.1/x", "data:,x", "javascript:alert(1)", "ws://127.0.0.1/"];
      for (const url of allowed) assert.doesNotThrow(() => strict.checkUrl(new URL(url), "sends pypakr to"), url);
      for (const url of plain) assert.throws(() => strict.checkUrl(new URL(url), "sends pypakr to"), /over plain HTTP/, url);
      for (const url of plain) assert.doesNotThrow(() => insecure.checkUrl(new URL(url), "sends pypakr to"), url);
      for (const url of unsupported) {
        for (const transport of [strict, insecure]) assert.throws(() => transport.checkUrl(new URL(url), "sends pypakr to"), /unsupported kind of address/, url);
      }
    } finally {
      await strict.close();
      await insecure.close();
    }
  });
});

/** The same case through the built CLI, as a user meets it: Docker's config.json holds the login. */
describe("pypakr push (the CLI) with an upload Location elsewhere", () => {
  let work: string;
  let registry: FakeRegistry;
  let other: FakeRegistry;
  let imageFile: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-origins-cli-"));
    registry = new FakeRegistry();
    await registry.start("127.0.0.1");
    other = new FakeRegistry();
    await other.start("127.0.0.2");
    registry.auth = { kind: "basic", user: USER, password: PASSWORD };
    imageFile = (await makeImage(work, [3000, 100])).file;
    const docker = path.join(work, "docker");
    await fs.mkdir(docker);
    await fs.writeFile(path.join(docker, "config.json"), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") } } }), { mode: 0o600 });
    env = { DOCKER_CONFIG: docker };
  });
  after(async () => {
    await registry.stop();
    await other.stop();
    await fs.rm(work, { recursive: true, force: true });
  });
  const locationAt = (where: (id: string) => string, sessions: FakeRegistry) => {
    let count = 0;
    registry.hook = async (req, res, url) => {
      if (req.method !== "POST" || !url.pathname.endsWith("/blobs/uploads/") || !req.headers.authorization) return false;
      await bodyOf(req);
      const id = `cli${++count}`;
      sessions.uploads.set(id, { repo: "team/cli", chunks: [] });
      res.writeHead(202, { location: where(id) }).end();
      return true;
    };
  };

  test("an upload Location on another loopback host: the push works and that host never sees the login", async () => {
    locationAt((id) => `http://${other.host}/upload/${id}`, other);
    const home = path.join(work, "home-ok");
    expectOk(await pypakr(["push", imageFile, `${registry.host}/team/cli:1`], { home, env, timeoutMs: 60_000 }), "push");
    assert.equal(other.log.filter((entry) => entry.method === "PUT").length, 3);
    assertNoCredentials(other.log, "the upload host");
    assert.ok(registry.log.some((entry) => entry.headers.authorization === BASIC), "the login was used with the registry");
  });

  test("an upload Location over plain HTTP to 0.0.0.0: a clean error, nothing sent there", async () => {
    registry.log.length = 0;
    locationAt((id) => `http://0.0.0.0:${registry.port}/upload/${id}`, registry);
    const home = path.join(work, "home-refused");
    const result = await pypakr(["push", imageFile, `${registry.host}/team/cli:2`], { home, env, timeoutMs: 60_000 });
    expectCleanFailure(result, /upload location at 0\.0\.0\.0:\d+\/upload\/cli\d over plain HTTP/);
    assert.deepEqual(registry.log.filter((entry) => entry.path.startsWith("/upload/")), []);
  });
});
