/**
 * The hub's server on 127.0.0.1 over the real index (":memory:") and an
 * in-memory registry: what every answer carries (security headers, JSON
 * that holds no raw "<"), methods and HEAD, query and body limits, the
 * API's writes (Bearer admin token only, never the cookie), the login
 * throttle, logout's CSRF check, and --private's reads (the registry asked
 * once a minute per Basic header).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { diffTags } from "../../../src/hub/diff.js";
import { HubIndex } from "../../../src/hub/index-db.js";
import { Indexer } from "../../../src/hub/indexer.js";
import type { HubParts } from "../../../src/hub/parts.js";
import { parseSearchQuery } from "../../../src/hub/search-query.js";
import { HubServer } from "../../../src/hub/server.js";
import { cycloneDxDocument, pylockDocument, readLayerMetadata } from "../../../src/sbom/index.js";
import { MemoryRegistry, pypakrImage } from "../../support/hub-memory.js";

const ADMIN = "admin-token-server-test-0001";
const EVENTS = "events-token-server-test-0002";

interface Running {
  url: string;
  registry: MemoryRegistry;
  index: HubIndex;
  server: HubServer;
}

async function start(options: { private?: boolean } = {}): Promise<Running> {
  const registry = new MemoryRegistry();
  const image = pypakrImage([["flask", "3.1.0", "BSD-3-Clause"]]);
  registry.put("team/app", "1", image.manifest, image.blobs);
  registry.put("team/app", "latest", image.manifest, image.blobs);
  const index = HubIndex.open(":memory:");
  const parts: HubParts = { index, registry, parseSearchQuery, diffTags, readLayerMetadata, cycloneDxDocument, pylockDocument };
  const indexer = new Indexer(parts, () => {});
  await indexer.indexTag("team/app", "1");
  await indexer.indexTag("team/app", "latest");
  const server = new HubServer(parts, indexer, { listen: { host: "127.0.0.1", port: 0 }, private: options.private ?? false, adminToken: ADMIN, eventsToken: EVENTS }, () => {});
  const { port } = await server.listen();
  return { url: `http://127.0.0.1:${port}`, registry, index, server };
}

async function stop(running: Running | undefined): Promise<void> {
  if (!running) return;
  await running.server.close(100);
  running.index.close();
}

function form(fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return { method: "POST", body: new URLSearchParams(fields).toString(), headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, redirect: "manual" };
}

async function login(url: string): Promise<string> {
  const response = await fetch(`${url}/-/login`, form({ token: ADMIN }));
  assert.equal(response.status, 303);
  return (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
}

describe("the hub's server", () => {
  let hub: Running;
  before(async () => {
    hub = await start();
  });
  after(() => stop(hub));

  test("every answer has the security headers, pages and errors alike", async () => {
    for (const path of ["/", "/r/team/app", "/api/recent", "/nowhere", "/-/static/hub.css"]) {
      const response = await fetch(`${hub.url}${path}`);
      await response.arrayBuffer();
      assert.match(response.headers.get("content-security-policy") ?? "", /^default-src 'self'; script-src 'self'; object-src 'none'/, path);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(response.headers.get("referrer-policy"), "same-origin", path);
    }
  });

  test("only GET, HEAD and POST (PUT and DELETE on the API); HEAD has no body", async () => {
    const put = await fetch(`${hub.url}/r/team/app`, { method: "PUT" });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get("allow"), "GET, HEAD, POST");
    assert.equal((await fetch(`${hub.url}/`, { method: "PATCH" })).status, 405);
    const head = await fetch(`${hub.url}/r/team/app`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  test("JSON never holds a raw '<', even for text that has one", async () => {
    const put = await fetch(`${hub.url}/api/repositories/team/app/description`, { method: "PUT", body: JSON.stringify({ description: "a <b> c" }), headers: { authorization: `Bearer ${ADMIN}` } });
    const text = await put.text();
    assert.equal(put.status, 200, text);
    assert.ok(!text.includes("<"), text);
    assert.equal((JSON.parse(text) as { description: string }).description, "a <b> c");
  });

  test("a query too long or that cannot be read is a 400 that says why", async () => {
    assert.equal((await fetch(`${hub.url}/search?q=${"x".repeat(201)}`)).status, 400);
    const bad = await fetch(`${hub.url}/api/search?q=${encodeURIComponent("flask >>3")}`);
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { error: { message: string; hint: string | null } };
    assert.ok(body.error.message.length > 0 && body.error.hint !== null, JSON.stringify(body));
  });

  test("the API's writes take the admin token as Bearer, never the session cookie", async () => {
    const cookie = await login(hub.url);
    const write = (headers: Record<string, string>) => fetch(`${hub.url}/api/repositories/team/app/description`, { method: "PUT", body: JSON.stringify({ description: "x" }), headers });
    assert.equal((await write({ cookie })).status, 401);
    assert.equal((await write({ authorization: `Bearer ${EVENTS}` })).status, 401);
    assert.equal((await write({ authorization: `Bearer ${ADMIN}x` })).status, 401);
    assert.equal((await write({ authorization: `Bearer ${ADMIN}` })).status, 200);
    const notJson = await fetch(`${hub.url}/api/repositories/team/app/description`, { method: "PUT", body: "x", headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(notJson.status, 400);
    const tooLong = await fetch(`${hub.url}/api/repositories/team/app/description`, { method: "PUT", body: JSON.stringify({ description: "é".repeat(17_000) }), headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(tooLong.status, 413, "34,000 bytes of UTF-8 is past the 32 KiB a description may have");
    assert.equal((await fetch(`${hub.url}/api/repositories/team/nope/description`, { method: "PUT", body: JSON.stringify({ description: "x" }), headers: { authorization: `Bearer ${ADMIN}` } })).status, 404);
  });

  test("logout needs the session's CSRF token", async () => {
    const cookie = await login(hub.url);
    assert.equal((await fetch(`${hub.url}/-/logout`, form({}, { cookie }))).status, 403);
    const page = await (await fetch(`${hub.url}/`, { headers: { cookie } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? "";
    const out = await fetch(`${hub.url}/-/logout`, form({ csrf }, { cookie }));
    assert.equal(out.status, 303);
    assert.match(out.headers.get("set-cookie") ?? "", /Max-Age=0/);
    assert.doesNotMatch(await (await fetch(`${hub.url}/`, { headers: { cookie } })).text(), /Log out/, "the session ended");
  });

  test("a login returns only to a path of the hub", async () => {
    for (const next of ["//evil.example/", "https://evil.example/", "/\\evil.example"]) {
      const response = await fetch(`${hub.url}/-/login`, form({ token: ADMIN, next }));
      assert.equal(response.headers.get("location"), "/", next);
    }
    assert.equal((await fetch(`${hub.url}/-/login`, form({ token: ADMIN, next: "/r/team/app" }))).headers.get("location"), "/r/team/app");
  });

  test("a delete through the API takes every tag on the digest, in the registry and the index", async () => {
    const response = await fetch(`${hub.url}/api/repositories/team/app/tags/1`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN}` } });
    const body = (await response.json()) as { deletedTags: string[]; note: string };
    assert.equal(response.status, 200);
    assert.deepEqual(body.deletedTags.sort(), ["1", "latest"]);
    assert.match(body.note, /garbage collection/);
    assert.deepEqual([...(hub.registry.repos.get("team/app")?.keys() ?? [])], []);
    assert.equal((await fetch(`${hub.url}/api/repositories/team/app/tags/1`)).status, 404);
  });

  test("ten wrong admin tokens in a minute block that address's logins", async () => {
    for (let attempt = 0; attempt < 10; attempt++) assert.equal((await fetch(`${hub.url}/-/login`, form({ token: "wrong-token-wrong" }))).status, 403);
    const blocked = await fetch(`${hub.url}/-/login`, form({ token: ADMIN }));
    assert.equal(blocked.status, 429);
    assert.equal(blocked.headers.get("retry-after"), "60");
  });
});

describe("the hub's server with --private", () => {
  let hub: Running;
  before(async () => {
    hub = await start({ private: true });
  });
  after(() => stop(hub));

  test("reads need a login; the registry's verdict on a Basic header is asked once", async () => {
    const good = `Basic ${Buffer.from("george:pw").toString("base64")}`;
    hub.registry.accepted.add(good);
    const anonymous = await fetch(`${hub.url}/r/team/app`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Basic realm="pypakr hub"/);
    assert.match(await anonymous.text(), /Admin login/);
    for (let read = 0; read < 3; read++) assert.equal((await fetch(`${hub.url}/api/repositories/team/app`, { headers: { authorization: good } })).status, 200);
    assert.equal(hub.registry.asked, 1);
    assert.equal((await fetch(`${hub.url}/`, { headers: { authorization: `Basic ${Buffer.from("george:no").toString("base64")}` } })).status, 401);
    assert.deepEqual(await (await fetch(`${hub.url}/-/health`)).json(), { ok: true });
  });
});
