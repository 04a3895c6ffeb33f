import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseChallenges } from "../../../src/registry/auth.js";
import { dockerConfigFile, eraseCredentials, getCredentials, storeCredentials } from "../../../src/registry/credentials.js";
import { DEFAULT_RETRY, parseRetryAfter, retryDelay } from "../../../src/registry/http.js";
import { registerSecret, scrub, scrubError } from "../../../src/registry/secrets.js";
import { PypakrError } from "../../../src/util/errors.js";

describe("WWW-Authenticate", () => {
  test("parseChallenges reads a Bearer challenge with quoted parameters", () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push"'), [
      { scheme: "bearer", params: { realm: "https://auth.example.com/token", service: "registry.example.com", scope: "repository:team/app:pull,push" } },
    ]);
  });

  test("parseChallenges reads several challenges, bare values, spaces and escapes", () => {
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm", Bearer realm=https://a/t , service = "s\\"q"'), [
      { scheme: "basic", params: { realm: "Registry Realm" } },
      { scheme: "bearer", params: { realm: "https://a/t", service: 's"q' } },
    ]);
  });

  test("parseChallenges survives empty and odd headers", () => {
    assert.deepEqual(parseChallenges(""), []);
    assert.deepEqual(parseChallenges("Negotiate"), [{ scheme: "negotiate", params: {} }]);
    assert.equal(parseChallenges('=,"x" Basic realm=x').find((challenge) => challenge.scheme === "basic")?.params.realm, "x");
  });
});

describe("retries", () => {
  const policy = { ...DEFAULT_RETRY, attempts: 4, baseDelayMs: 100, maxDelayMs: 1000 };
  const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });

  test("connection resets, 408, 429 and 5xx are retried with growing, jittered delays", () => {
    assert.equal(retryDelay(policy, 1, { error: reset }, () => 0), 50);
    assert.equal(retryDelay(policy, 2, { error: reset }, () => 1), 200);
    assert.equal(retryDelay(policy, 3, { status: 503 }, () => 1), 400);
    for (const status of [408, 429, 500, 502, 504]) assert.notEqual(retryDelay(policy, 1, { status }), null, String(status));
  });

  test("the delay never exceeds the cap", () => {
    assert.equal(retryDelay({ ...policy, attempts: 20 }, 15, { status: 500 }, () => 1), 1000);
  });

  test("other statuses and errors, and the last attempt, are not retried", () => {
    for (const status of [200, 201, 400, 401, 403, 404, 416]) assert.equal(retryDelay(policy, 1, { status }), null, String(status));
    assert.equal(retryDelay(policy, 1, { error: new Error("bad certificate") }), null);
    assert.equal(retryDelay(policy, 4, { status: 503 }), null);
  });

  test("an undici error is judged by the code of its cause", () => {
    const wrapped = new Error("fetch failed", { cause: Object.assign(new Error("x"), { code: "UND_ERR_SOCKET" }) });
    assert.notEqual(retryDelay(policy, 1, { error: wrapped }), null);
  });

  test("Retry-After (seconds or a date) is honoured on 429 and 503, within the cap", () => {
    assert.equal(retryDelay(policy, 1, { status: 429, retryAfter: "2" }), 2000);
    assert.equal(retryDelay(policy, 1, { status: 503, retryAfter: "3600" }), DEFAULT_RETRY.maxRetryAfterMs);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter("soon"), undefined);
  });
});

describe("secrets", () => {
  test("scrub masks registered secrets (and their base64) and the shapes credentials take", () => {
    registerSecret("hunter2-secret");
    const basic = Buffer.from("hunter2-secret").toString("base64");
    const text = scrub(`password hunter2-secret in ${basic}; Authorization: Bearer eyJhbGciOi.JIUzI1.NiJ9; {"token":"abc"} https://u:p@host/x?access_token=zzz&b=1`);
    assert.doesNotMatch(text, /hunter2|eyJhbGciOi|"abc"|u:p@|zzz/);
    assert.match(text, /b=1/);
  });

  test("scrubError cleans the message, the stack and the causes", () => {
    registerSecret("tok-123456");
    const error = new PypakrError("failed with tok-123456", { code: "registry-failed", cause: new Error("inner tok-123456") });
    scrubError(error);
    assert.doesNotMatch(`${error.message}${error.stack}${(error.cause as Error).message}${(error.cause as Error).stack}`, /tok-123456/);
  });
});

describe("Docker's credentials", () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-creds-"));
    env = { ...process.env, HOME: path.join(dir, "home"), DOCKER_CONFIG: path.join(dir, "docker") };
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  test("DOCKER_CONFIG names the directory, else ~/.docker", () => {
    assert.equal(dockerConfigFile(env), path.join(dir, "docker", "config.json"));
    assert.equal(dockerConfigFile({ HOME: "/h" }), "/h/.docker/config.json");
  });

  test("storeCredentials writes base64 auth with mode 0600 and keeps other keys", async () => {
    await fs.mkdir(path.join(dir, "docker"), { recursive: true });
    await fs.writeFile(dockerConfigFile(env), JSON.stringify({ auths: { "other.example.com": { auth: "eDp5" } }, psFormat: "table" }), { mode: 0o644 });
    await storeCredentials("127.0.0.1:5000", { username: "george", secret: "s3cret!" }, env);
    const stat = await fs.stat(dockerConfigFile(env));
    assert.equal(stat.mode & 0o777, 0o600);
    const config = JSON.parse(await fs.readFile(dockerConfigFile(env), "utf8")) as { auths: Record<string, { auth: string }>; psFormat: string };
    assert.equal(Buffer.from(config.auths["127.0.0.1:5000"]?.auth ?? "", "base64").toString(), "george:s3cret!");
    assert.equal(config.psFormat, "table");
    assert.ok(config.auths["other.example.com"]);
    assert.deepEqual(await getCredentials("127.0.0.1:5000", env), { username: "george", secret: "s3cret!" });
  });

  test("getCredentials finds entries keyed by URL, and identity tokens", async () => {
    await fs.writeFile(dockerConfigFile(env), JSON.stringify({ auths: { "https://reg.example.com/v1/": { auth: Buffer.from("a:b").toString("base64") }, "tok.example.com": { identitytoken: "refresh-xyz" } } }));
    assert.deepEqual(await getCredentials("reg.example.com", env), { username: "a", secret: "b" });
    assert.deepEqual(await getCredentials("tok.example.com", env), { username: "<token>", secret: "refresh-xyz" });
    assert.equal(await getCredentials("none.example.com", env), null);
  });

  test("eraseCredentials removes the entry and says whether there was one", async () => {
    await storeCredentials("127.0.0.1:5000", { username: "u", secret: "p" }, env);
    assert.equal(await eraseCredentials("127.0.0.1:5000", env), true);
    assert.equal(await getCredentials("127.0.0.1:5000", env), null);
    assert.equal(await eraseCredentials("127.0.0.1:5000", env), false);
  });

  test("a malformed config.json is reported without its content", async () => {
    await fs.writeFile(dockerConfigFile(env), '{"auths": {"x": {"auth": "c2VjcmV0"}');
    await assert.rejects(getCredentials("x", env), (error: unknown) => error instanceof PypakrError && /is damaged \(not JSON\)/.test(error.message) && !error.message.includes("c2VjcmV0"));
  });

  test("credHelpers and credsStore run docker-credential-NAME get/store/erase", async () => {
    const bin = path.join(dir, "bin");
    await fs.mkdir(bin, { recursive: true });
    // A fake helper speaking Docker's protocol, keeping its entries in a JSON file beside it.
    const helper = `const fs = require("fs"), file = __dirname + "/helper-" + process.argv[2].split("-").pop() + ".json";
let input = ""; process.stdin.on("data", (c) => (input += c)).on("end", () => {
  const db = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  const action = process.argv[3];
  if (action === "store") { const e = JSON.parse(input); db[e.ServerURL] = e; fs.writeFileSync(file, JSON.stringify(db)); return; }
  const host = input.trim();
  if (!db[host]) { process.stdout.write("credentials not found in native keychain\\n"); process.exit(1); }
  if (action === "get") process.stdout.write(JSON.stringify(db[host]));
  if (action === "erase") { delete db[host]; fs.writeFileSync(file, JSON.stringify(db)); }
});
`;
    await fs.writeFile(path.join(bin, "helper.cjs"), helper);
    for (const name of ["x", "y"]) await fs.writeFile(path.join(bin, `docker-credential-${name}`), `#!/bin/sh\nexec node "$(dirname "$0")/helper.cjs" "$(basename "$0")" "$@"\n`, { mode: 0o755 });
    const helperEnv = { ...env, PATH: `${bin}:${process.env.PATH ?? ""}` };
    await fs.writeFile(dockerConfigFile(env), JSON.stringify({ credsStore: "x", credHelpers: { "special.example.com": "y" } }));

    assert.equal(await storeCredentials("reg.example.com", { username: "u1", secret: "p1" }, helperEnv), "docker-credential-x");
    assert.equal(await storeCredentials("special.example.com", { username: "u2", secret: "p2" }, helperEnv), "docker-credential-y");
    const config = JSON.parse(await fs.readFile(dockerConfigFile(env), "utf8")) as { auths?: unknown };
    assert.equal(config.auths, undefined, "no secret lands in config.json when a helper is configured");
    assert.deepEqual(await getCredentials("reg.example.com", helperEnv), { username: "u1", secret: "p1" });
    assert.deepEqual(await getCredentials("special.example.com", helperEnv), { username: "u2", secret: "p2" });
    assert.equal(await getCredentials("unknown.example.com", helperEnv), null);
    assert.equal(await eraseCredentials("reg.example.com", helperEnv), true);
    assert.equal(await getCredentials("reg.example.com", helperEnv), null);
  });

  test("a helper that is not installed gets an error naming it", async () => {
    await fs.writeFile(dockerConfigFile(env), JSON.stringify({ credsStore: "missing-helper" }));
    await assert.rejects(getCredentials("reg.example.com", { ...env, PATH: "/nonexistent" }), /docker-credential-missing-helper .* is not on PATH/);
  });
});

describe("files holding credentials are private", () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-creds-mode-"));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  test("a fresh config.json is 0600 in a 0700 directory, even with umask 0", async () => {
    const env = { ...process.env, DOCKER_CONFIG: path.join(dir, "fresh", "docker") };
    const old = process.umask(0);
    try {
      await storeCredentials("reg.example.com", { username: "u", secret: "p-fresh" }, env);
    } finally {
      process.umask(old);
    }
    assert.equal((await fs.stat(dockerConfigFile(env))).mode & 0o777, 0o600);
    assert.equal((await fs.stat(path.dirname(dockerConfigFile(env)))).mode & 0o777, 0o700);
  });

  test("logout rewrites a world-readable config.json as 0600", async () => {
    const env = { ...process.env, DOCKER_CONFIG: path.join(dir, "erase") };
    await fs.mkdir(env.DOCKER_CONFIG, { recursive: true });
    const auth = Buffer.from("u:p-erase").toString("base64");
    await fs.writeFile(dockerConfigFile(env), JSON.stringify({ auths: { "a.example.com": { auth }, "b.example.com": { auth } } }), { mode: 0o644 });
    await fs.chmod(dockerConfigFile(env), 0o644);
    assert.equal(await eraseCredentials("a.example.com", env), true);
    assert.equal((await fs.stat(dockerConfigFile(env))).mode & 0o777, 0o600, "b.example.com's login is still in the file");
  });

  test("clearing an old clear-text entry when a helper takes over writes 0600", async () => {
    const bin = path.join(dir, "bin");
    await fs.mkdir(bin, { recursive: true });
    await fs.writeFile(path.join(bin, "docker-credential-sink"), "#!/bin/sh\ncat >/dev/null\n", { mode: 0o755 });
    const env = { ...process.env, DOCKER_CONFIG: path.join(dir, "helper"), PATH: `${bin}:${process.env.PATH ?? ""}` };
    await fs.mkdir(env.DOCKER_CONFIG, { recursive: true });
    await fs.writeFile(dockerConfigFile(env), JSON.stringify({ credsStore: "sink", auths: { "c.example.com": { auth: Buffer.from("u:old").toString("base64") } } }), { mode: 0o644 });
    await fs.chmod(dockerConfigFile(env), 0o644);
    assert.equal(await storeCredentials("c.example.com", { username: "u", secret: "new" }, env), "docker-credential-sink");
    assert.equal((await fs.stat(dockerConfigFile(env))).mode & 0o777, 0o600);
    assert.doesNotMatch(await fs.readFile(dockerConfigFile(env), "utf8"), new RegExp(Buffer.from("u:old").toString("base64")));
  });
});
