/**
 * `pypakr hub` over a real docker-registry on 127.0.0.1 whose notifications
 * go to the hub: `pypakr push` of two related images (v2 upgrades flask and
 * adds itsdangerous), then everything through HTTP as a user or a script
 * sees it: home, search by name and by "distribution version", the tag page
 * (distributions, licenses, hostile METADATA shown as text), the diff, the
 * JSON API, the SBOM (CycloneDX 1.6 schema) and pylock.toml downloads, the
 * admin's description edit (hostile Markdown rendered as text) and delete
 * (refused without the CSRF token; every tag on the digest goes), and a
 * --private hub refusing anonymous reads while taking the registry's Basic
 * credentials.
 *
 * Needs Debian's docker-registry (and htpasswd for the --private case).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { parse as parseToml } from "smol-toml";
import { writeBlobsArchive } from "../../src/image/archive.js";
import { sha256Digest } from "../../src/util/hash.js";
import { CLI, cliEnv, expectOk, freePort, makeTempDir, pypakr, removeDir } from "../support/helpers.js";
import { appLayer, LayerPool, type MadeImage, pypakrImage, RegistryPusher } from "../support/hub-images.js";
import { startHubRegistry, type HubRegistry } from "../support/hub-registry.js";
import { cycloneDxErrors, pylockProblem, pythonHasPylock } from "../support/sbom.js";

const ADMIN_TOKEN = "admin-token-for-the-hub-test-0001";
const EVENTS_TOKEN = "events-token-for-the-hub-test-0002";
const HOSTILE = `<script>alert("pwned")</script>`;
/** Every wait on the hub is bounded by this. */
const WAIT_MS = 15_000;

interface RunningHub {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  /** Sends the signal (SIGTERM by default) and resolves with the exit code once it has exited (SIGKILL after 10 s). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `pypakr hub` and resolves once it says where it listens. */
async function startHub(args: string[], env: NodeJS.ProcessEnv, home: string): Promise<RunningHub> {
  const child = spawn(CLI, ["hub", ...args], { env: cliEnv({ home, env }), stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the hub did not start in time:\n${stderr}`)), WAIT_MS);
    const look = () => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stderr?.on("data", look);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the hub exited ${code}:\n${stderr}`));
    });
  });
  child.removeAllListeners("exit");
  return {
    url,
    child,
    stderr: () => stderr,
    stop: (signal = "SIGTERM") =>
      new Promise<number | null>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", (code) => {
          clearTimeout(timer);
          resolve(code);
        });
        child.kill(signal);
      }),
  };
}

/** Polls `check` until it returns a value (not undefined), bounded. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, log: () => string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the hub's log:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function getJson<T>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as T };
}

async function getText(url: string, init: RequestInit = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(url, { redirect: "manual", ...init });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

function form(fields: Record<string, string>): RequestInit {
  return { method: "POST", body: new URLSearchParams(fields).toString(), headers: { "content-type": "application/x-www-form-urlencoded" }, redirect: "manual" };
}

/**
 * The image with each distribution's origin recorded (as a build with pip's
 * install report does), but for the names in `unrecorded`: what a lock file
 * needs to name each wheel and its hash.
 */
function withOrigins(image: MadeImage, unrecorded: string[]): MadeImage {
  const config = JSON.parse(image.config.bytes.toString("utf8")) as { pypakr: { distributions: { name: string; version: string; origin?: unknown }[] } };
  for (const distribution of config.pypakr.distributions) {
    if (unrecorded.includes(distribution.name)) continue;
    const filename = `${distribution.name.replace(/[-.]+/g, "_")}-${distribution.version}-py3-none-any.whl`;
    distribution.origin = { filename, sha256: createHash("sha256").update(filename).digest("hex"), url: `https://files.pythonhosted.org/packages/xx/${filename}` };
  }
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = sha256Digest(configBytes);
  const manifest = JSON.parse(image.manifest.bytes.toString("utf8")) as { config: { digest: string; size: number } };
  manifest.config = { ...manifest.config, digest: configDigest, size: configBytes.length };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { ...image, config: { digest: configDigest, bytes: configBytes }, manifest: { digest: sha256Digest(manifestBytes), bytes: manifestBytes } };
}

/** The image as a file `pypakr push` takes. */
async function imageFile(dir: string, name: string, image: MadeImage): Promise<string> {
  const file = path.join(dir, `${name}.tar`);
  await writeBlobsArchive(file, image.manifest.digest, [image.manifest, image.config, ...image.layers].map((blob) => ({ digest: blob.digest, bytes: blob.bytes })));
  return file;
}

describe("pypakr hub over a registry with notifications", () => {
  let dir = "";
  let home = "";
  let registry: HubRegistry;
  let hub: RunningHub;
  let v1: MadeImage;
  let v2: MadeImage;

  before(async () => {
    dir = await makeTempDir("pypakr-hub-");
    home = path.join(dir, "home");
    await fs.mkdir(home);
    const port = await freePort();
    registry = await startHubRegistry({ eventsUrl: `http://127.0.0.1:${port}/events`, eventsToken: EVENTS_TOKEN });
    hub = await startHub(["--registry", registry.url, "--listen", `127.0.0.1:${port}`, "--data", path.join(dir, "hub-data"), "--reconcile-interval", "off"], { PYPAKR_HUB_ADMIN_TOKEN: ADMIN_TOKEN, PYPAKR_HUB_EVENTS_TOKEN: EVENTS_TOKEN }, home);

    const pool = new LayerPool();
    const click = pool.layer({ name: "click", version: "8.1.7", licenseExpression: "BSD-3-Clause", requiresPython: ">=3.7" });
    // Hostile METADATA: free text an image may carry, which the pages must show as text.
    const evil = pool.layer({ name: "evil-pkg", version: "1.0", license: HOSTILE, summary: `<img src=x onerror=alert(1)>`, homepage: "https://example.test/\"><script>alert(2)</script>" });
    v1 = withOrigins(pypakrImage([pool.layer({ name: "Flask", version: "3.0.0", licenseExpression: "BSD-3-Clause", requiresPython: ">=3.8" }), click, evil], appLayer({ "run": "#!/bin/sh\n" }), { environment: { GREETING: HOSTILE } }), ["evil-pkg"]);
    v2 = withOrigins(pypakrImage([pool.layer({ name: "Flask", version: "3.1.0", licenseExpression: "BSD-3-Clause", requiresPython: ">=3.9" }), click, evil, pool.layer({ name: "itsdangerous", version: "2.2.0", license: "BSD", licenseClassifiers: ["OSI Approved :: BSD License"] })], appLayer({ "run": "#!/bin/sh\necho 2\n" })), ["evil-pkg"]);
    const files = [await imageFile(dir, "v1", v1), await imageFile(dir, "v2", v2)];
    for (const [file, tag] of [[files[0], "1"], [files[1], "2"], [files[1], "latest"]] as const) {
      expectOk(await pypakr(["push", file ?? "", `${registry.host}/team/app:${tag}`], { home }), `push team/app:${tag}`);
    }
    await waitFor("the three pushes in the index", async () => {
      const { body } = await getJson<{ recent: { tag: string }[] }>(`${hub.url}/api/recent`);
      return body.recent.length === 3 ? true : undefined;
    }, hub.stderr);
  });

  after(async () => {
    await hub?.stop();
    await registry?.stop();
    if (dir) await removeDir(dir);
  });

  test("home lists the pushes; every answer has the security headers", async () => {
    const home = await getText(`${hub.url}/`);
    assert.equal(home.status, 200);
    assert.match(home.text, /team\/app:1/);
    assert.match(home.text, /team\/app:latest/);
    assert.equal(home.headers.get("content-security-policy"), "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    assert.equal(home.headers.get("x-content-type-options"), "nosniff");
    assert.equal(home.headers.get("referrer-policy"), "same-origin");
    assert.doesNotMatch(home.text, /<script>(?!<\/script>)|<script [^s]/, "no inline script");
    const script = await getText(`${hub.url}/-/static/hub.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type") ?? "", /javascript/);
    assert.equal((await getText(`${hub.url}/`, { method: "PUT" })).status, 405);
  });

  test("search finds the repository by name and the images by distribution and version", async () => {
    type Results = { repositories: { name: string }[]; distributions: { repository: string; tag: string; name: string; version: string }[] };
    const byName = await getJson<Results>(`${hub.url}/api/search?q=app`);
    assert.deepEqual(byName.body.repositories.map((hit) => hit.name), ["team/app"]);
    const flask31 = await getJson<Results>(`${hub.url}/api/search?q=${encodeURIComponent("flask 3.1")}`);
    assert.deepEqual(flask31.body.distributions.map((hit) => `${hit.tag} ${hit.version}`).sort(), ["2 3.1.0", "latest 3.1.0"]);
    const older = await getJson<Results>(`${hub.url}/api/search?q=${encodeURIComponent("flask<3.1")}`);
    assert.deepEqual(older.body.distributions.map((hit) => `${hit.tag} ${hit.version}`), ["1 3.0.0"]);
    const page = await getText(`${hub.url}/search?q=${encodeURIComponent("itsdangerous")}`);
    assert.equal(page.status, 200);
    assert.match(page.text, /team\/app:2/);
    assert.doesNotMatch(page.text, /team\/app:1</);
    const bad = await getText(`${hub.url}/search?q=${encodeURIComponent("flask >>nonsense")}`);
    assert.equal(bad.status, 400);
  });

  test("the tag page shows the distributions with their licenses, and hostile metadata as text", async () => {
    const page = await getText(`${hub.url}/r/team/app/-/tags/1`);
    assert.equal(page.status, 200);
    for (const expected of [/Flask/, /3\.0\.0/, /BSD-3-Clause/, /&gt;=3\.8/, /click/, /8\.1\.7/, /cpython 3\.11\.7/, /linux\/amd64/, /pypakr pull 127\.0\.0\.1:\d+\/team\/app:1/, /sbom\.cdx\.json/, /pylock\.toml/]) assert.match(page.text, expected);
    assert.ok(page.text.includes("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"), "the hostile license and environment value show as text");
    assert.ok(!page.text.includes(HOSTILE), "the hostile license is never markup");
    assert.ok(!page.text.includes("<img src=x"), "the hostile summary is never markup");
    assert.ok(!page.text.includes("<script>alert(2)"), "the hostile home page URL is never markup");
  });

  test("the diff shows flask upgraded and itsdangerous added, as a page and as JSON", async () => {
    const page = await getText(`${hub.url}/r/team/app/-/diff?from=1&to=2`);
    assert.equal(page.status, 200);
    assert.match(page.text, /<tr class="upgraded"><td>flask<\/td><td>upgraded<\/td><td>3\.0\.0<\/td><td>3\.1\.0<\/td><\/tr>/i);
    assert.match(page.text, /<tr class="added"><td>itsdangerous<\/td><td>added<\/td>/);
    const { body } = await getJson<{ added: { name: string; version: string }[]; changed: { name: string; from: string; to: string; direction: string }[]; removed: unknown[] }>(`${hub.url}/api/repositories/team/app/diff?from=1&to=2`);
    assert.deepEqual(body.added.map((entry) => `${entry.name} ${entry.version}`), ["itsdangerous 2.2.0"]);
    assert.deepEqual(body.changed.map((entry) => `${entry.name} ${entry.from} ${entry.to} ${entry.direction}`.toLowerCase()), ["flask 3.0.0 3.1.0 upgraded"]);
    assert.deepEqual(body.removed, []);
  });

  test("the JSON API gives the repository and the tag with its layers and metadata", async () => {
    const repository = await getJson<{ name: string; tags: { tag: string; digest: string; pull: string }[] }>(`${hub.url}/api/repositories/team/app`);
    assert.equal(repository.body.name, "team/app");
    assert.deepEqual(repository.body.tags.map((tag) => tag.tag).sort(), ["1", "2", "latest"]);
    assert.equal(repository.body.tags.find((tag) => tag.tag === "2")?.digest, v2.manifest.digest);
    type Tag = { kind: string; digest: string; compressedSize: number; layers: { size: number; distribution?: { name: string; version: string; metadata: { licenseExpression: string | null; requiresPython: string | null } | null } }[] };
    const tag = await getJson<Tag>(`${hub.url}/api/repositories/team/app/tags/2`);
    assert.equal(tag.body.kind, "pypakr");
    assert.equal(tag.body.digest, v2.manifest.digest);
    assert.equal(tag.body.compressedSize, v2.manifest.bytes.length + v2.config.bytes.length + v2.layers.reduce((sum, layer) => sum + layer.bytes.length, 0));
    const flask = tag.body.layers.find((layer) => layer.distribution?.name === "Flask");
    assert.deepEqual(flask?.distribution?.metadata && { licenseExpression: flask.distribution.metadata.licenseExpression, requiresPython: flask.distribution.metadata.requiresPython }, { licenseExpression: "BSD-3-Clause", requiresPython: ">=3.9" });
    assert.equal(tag.body.layers.filter((layer) => layer.distribution === undefined).length, 1, "one app-files layer");
    assert.equal((await getText(`${hub.url}/api/repositories/team/nope`)).status, 404);
  });

  test("the SBOM validates against CycloneDX 1.6; pylock.toml lists every distribution (and validates, where Python's packaging can say)", async (t) => {
    const sbom = await fetch(`${hub.url}/r/team/app/-/tags/2/sbom.cdx.json`);
    assert.equal(sbom.status, 200);
    assert.match(sbom.headers.get("content-disposition") ?? "", /attachment/);
    const document = (await sbom.json()) as { components: { purl: string; hashes?: { alg: string; content: string }[] }[] };
    assert.deepEqual(cycloneDxErrors(document), []);
    assert.deepEqual(document.components.map((component) => component.purl.split("?")[0]).sort(), ["pkg:pypi/click@8.1.7", "pkg:pypi/evil-pkg@1.0", "pkg:pypi/flask@3.1.0", "pkg:pypi/itsdangerous@2.2.0"]);
    // The wheels' hashes, where the image recorded them.
    assert.deepEqual(document.components.filter((component) => component.hashes?.some((hash) => hash.alg === "SHA-256")).length, 3);
    const text = await (await fetch(`${hub.url}/r/team/app/-/tags/2/pylock.toml`)).text();
    const lock = parseToml(text) as { packages: { name: string; version: string; wheels: { hashes: { sha256: string } }[] }[]; tool: { pypakr: { unlocked?: { name: string; version: string }[] } } };
    assert.deepEqual(lock.packages.map((entry) => `${entry.name}==${entry.version}`), ["click==8.1.7", "flask==3.1.0", "itsdangerous==2.2.0"]);
    assert.ok(lock.packages.every((entry) => entry.wheels[0]?.hashes.sha256.length === 64));
    // The distribution the image recorded no wheel of is listed too, as one that cannot be locked.
    assert.deepEqual(lock.tool.pypakr.unlocked?.map((entry) => `${entry.name}==${entry.version}`), ["evil-pkg==1.0"]);
    if (pythonHasPylock()) assert.equal(await pylockProblem(text), "");
    else t.diagnostic("python3 has no packaging.pylock (packaging >= 25): the lock was checked by parsing only");
  });

  test("an admin edits the description: hostile Markdown renders as text; no session or no CSRF token is refused", async () => {
    const markdown = `# App\n\n${HOSTILE}\n\n[click me](javascript:alert(1)) <img src=x onerror=alert(1)>`;
    assert.equal((await getText(`${hub.url}/r/team/app/-/description`, form({ description: markdown }))).status, 403, "no session");
    const login = await getText(`${hub.url}/-/login`, form({ token: "wrong-token-wrong-token", next: "/r/team/app" }));
    assert.equal(login.status, 403);
    const cookie = await adminCookie(hub.url);
    const page = await getText(`${hub.url}/r/team/app`, { headers: { cookie } });
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? "";
    assert.ok(csrf.length > 20, "the admin's page carries a CSRF token");
    assert.equal((await getText(`${hub.url}/r/team/app/-/description`, { ...form({ description: markdown }), headers: { cookie, "content-type": "application/x-www-form-urlencoded" } })).status, 403, "no CSRF token");
    assert.equal((await getText(`${hub.url}/r/team/app/-/description`, { ...form({ description: markdown, csrf }), headers: { cookie, "content-type": "application/x-www-form-urlencoded", origin: "http://evil.example" } })).status, 403, "another origin");
    const saved = await getText(`${hub.url}/r/team/app/-/description`, { ...form({ description: markdown, csrf }), headers: { cookie, "content-type": "application/x-www-form-urlencoded", origin: hub.url } });
    assert.equal(saved.status, 303);
    const anonymous = await getText(`${hub.url}/r/team/app`);
    const description = /<section class="description">([\s\S]*?)<\/section>/.exec(anonymous.text)?.[1] ?? "";
    assert.match(description, /<h3>App<\/h3>/);
    assert.ok(description.includes("&lt;script&gt;"), description);
    assert.ok(!/<script|<img|href="javascript/i.test(description), description);
    const api = await getJson<{ description: string }>(`${hub.url}/api/repositories/team/app`);
    assert.equal(api.body.description, markdown);
    // The API's write takes the admin token, never the cookie.
    const put = (headers: Record<string, string>) => fetch(`${hub.url}/api/repositories/team/app/description`, { method: "PUT", body: JSON.stringify({ description: "Jokes *app*" }), headers: { "content-type": "application/json", ...headers } });
    assert.equal((await put({ cookie })).status, 401);
    assert.equal((await put({ authorization: `Bearer ${ADMIN_TOKEN}` })).status, 200);
    assert.match((await getText(`${hub.url}/r/team/app`)).text, /<em>app<\/em>/);
    const oversized = await fetch(`${hub.url}/api/repositories/team/app/description`, { method: "PUT", body: JSON.stringify({ description: "x".repeat(70_000) }), headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(oversized.status, 413);
  });

  test("an admin deletes a tag: every tag on its digest goes from the registry and the hub; no CSRF token, no delete", async () => {
    const cookie = await adminCookie(hub.url);
    const confirm = await getText(`${hub.url}/r/team/app/-/tags/latest/delete`, { headers: { cookie } });
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /every tag on it<\/strong>: 2, latest/);
    assert.match(confirm.text, /garbage collection/);
    const csrf = /name="csrf" value="([^"]+)"/.exec(confirm.text)?.[1] ?? "";
    const refused = await getText(`${hub.url}/r/team/app/-/tags/latest/delete`, { ...form({ digest: v2.manifest.digest }), headers: { cookie, "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(refused.status, 403);
    assert.deepEqual(await registryTags(registry, "team/app"), ["1", "2", "latest"], "nothing deleted without the token");
    const deleted = await getText(`${hub.url}/r/team/app/-/tags/latest/delete`, { ...form({ digest: v2.manifest.digest, csrf }), headers: { cookie, "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(deleted.status, 200, deleted.text);
    assert.match(deleted.text, /garbage collection/);
    assert.deepEqual(await registryTags(registry, "team/app"), ["1"]);
    const repository = await getJson<{ tags: { tag: string }[] }>(`${hub.url}/api/repositories/team/app`);
    assert.deepEqual(repository.body.tags.map((tag) => tag.tag), ["1"]);
    assert.equal((await getText(`${hub.url}/r/team/app/-/tags/2`)).status, 404);
  });

  test("/events takes only the events token and only an envelope", async () => {
    const post = (headers: Record<string, string>, body: string) => fetch(`${hub.url}/events`, { method: "POST", body, headers });
    assert.equal((await post({}, '{"events": []}')).status, 401);
    assert.equal((await post({ authorization: `Bearer ${ADMIN_TOKEN}` }, '{"events": []}')).status, 401);
    assert.equal((await post({ authorization: `Bearer ${EVENTS_TOKEN}` }, "not json")).status, 400);
    assert.equal((await post({ authorization: `Bearer ${EVENTS_TOKEN}` }, '{"events": []}')).status, 202);
    assert.equal((await post({ authorization: `Bearer ${EVENTS_TOKEN}` }, JSON.stringify({ events: [], padding: "x".repeat(1_100_000) }))).status, 413);
  });

  test("SIGINT stops the hub cleanly", async () => {
    assert.equal(await hub.stop("SIGINT"), 0, hub.stderr());
    assert.match(hub.stderr(), /SIGINT: stopping[\s\S]*stopped/);
    assert.doesNotMatch(hub.stderr(), /cannot|internal error|Warning/, "nothing failed while the hub ran");
  });
});

async function adminCookie(url: string): Promise<string> {
  const login = await getText(`${url}/-/login`, form({ token: ADMIN_TOKEN, next: "/" }));
  assert.equal(login.status, 303);
  const cookie = login.headers.get("set-cookie") ?? "";
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  return cookie.split(";")[0] ?? "";
}

async function registryTags(registry: HubRegistry, repository: string): Promise<string[]> {
  const { body } = await getJson<{ tags: string[] | null }>(`${registry.url}/v2/${repository}/tags/list`, registry.authorization ? { headers: { authorization: registry.authorization } } : {});
  return (body.tags ?? []).sort();
}

describe("pypakr hub --private", () => {
  let dir = "";
  let registry: HubRegistry;
  let hub: RunningHub;

  before(async () => {
    dir = await makeTempDir("pypakr-hub-private-");
    const home = path.join(dir, "home");
    await fs.mkdir(home);
    registry = await startHubRegistry({ users: { george: "registry-password-1" } });
    // The hub reads the registry with pypakr's own logins.
    const dockerConfig = path.join(dir, "docker");
    expectOk(await pypakr(["login", registry.host, "-u", "george", "--password-stdin"], { home, input: "registry-password-1\n", env: { DOCKER_CONFIG: dockerConfig } }), "login");
    // Pushed before the hub starts, with no notifications: the hub finds them by walking the catalog.
    const pool = new LayerPool();
    const image = pypakrImage([pool.layer({ name: "requests", version: "2.32.3", licenseExpression: "Apache-2.0" })], appLayer({ run: "#!/bin/sh\n" }));
    expectOk(await pypakr(["push", await imageFile(dir, "requests", image), `${registry.host}/team/web:1`], { home, env: { DOCKER_CONFIG: dockerConfig } }), "push team/web:1");
    await new RegistryPusher(registry.url, { authorization: registry.authorization ?? "" }).push("base/busybox", "1.36", ordinaryImage());
    hub = await startHub(["--registry", registry.url, "--listen", "127.0.0.1:0", "--data", path.join(dir, "hub-data"), "--private", "--reconcile-interval", "off"], { PYPAKR_HUB_ADMIN_TOKEN: ADMIN_TOKEN, PYPAKR_HUB_EVENTS_TOKEN: EVENTS_TOKEN, DOCKER_CONFIG: dockerConfig }, home);
    await waitFor("the reconcile at start", async () => {
      const { body } = await getJson<{ recent: unknown[] }>(`${hub.url}/api/recent`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return body.recent.length === 2 ? true : undefined;
    }, hub.stderr);
  });

  after(async () => {
    await hub?.stop();
    await registry?.stop();
    if (dir) await removeDir(dir);
  });

  test("anonymous reads get 401 with a Basic challenge; the registry's login or the admin token read", async () => {
    for (const where of ["/", "/api/recent", "/search?q=x", "/r/team/app"]) {
      const anonymous = await getText(`${hub.url}${where}`);
      assert.equal(anonymous.status, 401, where);
      assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Basic realm=/);
    }
    const wrong = `Basic ${Buffer.from("george:wrong").toString("base64")}`;
    assert.equal((await getText(`${hub.url}/`, { headers: { authorization: wrong } })).status, 401);
    assert.equal((await getText(`${hub.url}/`, { headers: { authorization: registry.authorization ?? "" } })).status, 200);
    assert.equal((await getText(`${hub.url}/api/recent`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 200);
    assert.equal((await getText(`${hub.url}/api/recent`, { headers: { authorization: `Bearer ${EVENTS_TOKEN}` } })).status, 401);
    // The login form and the static files stay reachable, so a browser can log in.
    assert.equal((await getText(`${hub.url}/-/login`)).status, 200);
    assert.equal((await getText(`${hub.url}/-/static/hub.css`)).status, 200);
    const cookie = await adminCookie(hub.url);
    assert.equal((await getText(`${hub.url}/`, { headers: { cookie } })).status, 200);
  });

  test("the reconcile at start indexed a pypakr image and an ordinary one, shown with what an ordinary image has", async () => {
    const admin = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };
    const web = await getJson<{ kind: string; layers: { distribution?: { name: string } }[] }>(`${hub.url}/api/repositories/team/web/tags/1`, admin);
    assert.equal(web.body.kind, "pypakr");
    assert.deepEqual(web.body.layers.flatMap((layer) => (layer.distribution ? [layer.distribution.name] : [])), ["requests"]);
    const ordinary = await getJson<{ kind: string; platforms: string[]; python: unknown; entrypoint: string[]; environment: Record<string, string>; layers: { distribution?: unknown }[] }>(`${hub.url}/api/repositories/base/busybox/tags/1.36`, admin);
    assert.deepEqual({ kind: ordinary.body.kind, platforms: ordinary.body.platforms, python: ordinary.body.python, entrypoint: ordinary.body.entrypoint, layers: ordinary.body.layers.length }, { kind: "ordinary", platforms: ["linux/arm64"], python: null, entrypoint: ["/bin/sh", "-c", "echo hi"], layers: 1 });
    assert.equal(ordinary.body.environment.MOTD, HOSTILE);
    const page = await getText(`${hub.url}/r/base/busybox/-/tags/1.36`, admin);
    assert.equal(page.status, 200);
    assert.match(page.text, /ordinary image/);
    assert.match(page.text, /linux\/arm64/);
    assert.ok(!page.text.includes(HOSTILE) && page.text.includes("&lt;script&gt;"), "the config's free text shows as text");
    assert.doesNotMatch(page.text, /sbom\.cdx\.json/, "no SBOM for an image without Python distributions");
    assert.equal((await getText(`${hub.url}/r/base/busybox/-/tags/1.36/sbom.cdx.json`, admin)).status, 404);
  });
});

/** An ordinary (non-pypakr) image: an OCI config without pypakr's field, one gzip layer, arm64. */
function ordinaryImage(): MadeImage {
  const layer = gzipSync(Buffer.from("not really a tar, and the hub never opens an ordinary image's layers"));
  const layerDigest = sha256Digest(layer);
  const configBytes = Buffer.from(JSON.stringify({ architecture: "arm64", os: "linux", created: "2026-11-01T00:00:00Z", config: { Env: ["PATH=/bin", `MOTD=${HOSTILE}`], Entrypoint: ["/bin/sh"], Cmd: ["-c", "echo hi"] }, rootfs: { type: "layers", diff_ids: [sha256Digest(Buffer.from("x"))] } }));
  const configDigest = sha256Digest(configBytes);
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: configBytes.length }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: layer.length }] }));
  return { manifest: { digest: sha256Digest(manifestBytes), bytes: manifestBytes }, config: { digest: configDigest, bytes: configBytes }, layers: [{ digest: layerDigest, diffId: sha256Digest(Buffer.from("x")), bytes: layer }], distributions: [] };
}
