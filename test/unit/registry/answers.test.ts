/**
 * Every JSON document the registry code reads from outside is checked
 * against a schema (DESIGN.md): a token service's answer, a registry's error
 * body, Docker's config.json and a credential helper's answer. A malformed
 * one is a PypakrError with a stable code that names what is wrong, never a
 * TypeError, an undici error or a silent fallback; and none of it shows a
 * secret.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { RegistryClient } from "../../../src/registry/client.js";
import { dockerConfigFile, getCredentials, storeCredentials } from "../../../src/registry/credentials.js";
import { PypakrError, type ErrorCode } from "../../../src/util/errors.js";
import { FakeRegistry } from "../../support/registry.js";

const ONCE = { retry: { attempts: 1 } };
const USER = "george";
const PASSWORD = "pw-answers-29";

function expectPypakrError(code: ErrorCode, message: RegExp): (error: unknown) => true {
  return (error: unknown) => {
    assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    assert.ok(error.hint, "a hint says what to do");
    assert.ok(!`${error.message}\n${error.hint}`.includes(PASSWORD), "no secret in the error");
    return true;
  };
}

describe("a token service's answer is checked", () => {
  let registry: FakeRegistry;
  /** What /token answers with: status, then the body. */
  let answer: { status: number; body: string | Buffer } = { status: 200, body: "{}" };

  before(async () => {
    registry = new FakeRegistry();
    registry.auth = { kind: "bearer", user: USER, password: PASSWORD };
    registry.hook = (_req, res, url) => {
      if (url.pathname !== "/token") return false;
      res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
      return true;
    };
    await registry.start();
  });
  after(() => registry.stop());

  async function askForToken(): Promise<unknown> {
    const client = new RegistryClient(registry.host, { ...ONCE, credentials: { username: USER, secret: PASSWORD } });
    try {
      return await client.fetch({ method: "GET", url: "/v2/" }, ["repository:x:pull"]);
    } finally {
      await client.close();
    }
  }

  const malformed: { name: string; body: string | Buffer; code: ErrorCode; message: RegExp }[] = [
    { name: "a token that is a number", body: '{"token": 5}', code: "registry-misbehaved", message: /token service .* cannot use \(token: .*expected string/ },
    { name: "an array", body: "[]", code: "registry-misbehaved", message: /token service .* cannot use \(the document: .*expected object/ },
    { name: "null", body: "null", code: "registry-misbehaved", message: /token service .* cannot use \(the document: .*expected object/ },
    { name: "not JSON", body: "<html>no</html>", code: "registry-misbehaved", message: /token service .* cannot use \(not JSON\)/ },
    { name: "no token at all", body: '{"expires_in": 300}', code: "registry-misbehaved", message: /sent no token/ },
    { name: "a token with a line break (it would forge a header)", body: JSON.stringify({ token: "abc\r\nX-Evil: 1" }), code: "registry-misbehaved", message: /token: .*HTTP header/ },
    { name: "an access_token of the wrong type", body: '{"access_token": {"a": 1}}', code: "registry-misbehaved", message: /access_token: .*expected string/ },
    { name: "an expires_in that is a string", body: '{"token": "t", "expires_in": "300"}', code: "registry-misbehaved", message: /expires_in: .*expected number/ },
    { name: "a token of a megabyte (under the body's limit)", body: JSON.stringify({ token: "t".repeat(1000 * 1000) }), code: "registry-misbehaved", message: /token: .*too big|token: .*65536/i },
    { name: "a body of 10 MB", body: Buffer.alloc(10 * 1024 * 1024, 0x20), code: "too-large", message: /more than 1048576 bytes for a token/ },
  ];
  for (const scenario of malformed) {
    test(`${scenario.name}: a clean error`, async () => {
      answer = { status: 200, body: scenario.body };
      await assert.rejects(askForToken(), expectPypakrError(scenario.code, scenario.message));
    });
  }

  test("a well-formed answer, with fields pypakr does not use, is taken", async () => {
    answer = { status: 200, body: JSON.stringify({ token: "the-bearer-token-42", access_token: "the-bearer-token-42", expires_in: 300, issued_at: "2026-01-01T00:00:00Z", refresh_token: "r", scope: "x" }) };
    const response = (await askForToken()) as { status: number; body: { dump(): Promise<void> } };
    assert.equal(response.status, 200);
    await response.body.dump();
  });

  test("an OAuth2-style answer (access_token, null token) is taken", async () => {
    answer = { status: 200, body: JSON.stringify({ token: null, access_token: "the-bearer-token-42", expires_in: null }) };
    const response = (await askForToken()) as { status: number; body: { dump(): Promise<void> } };
    assert.equal(response.status, 200);
    await response.body.dump();
  });
});

describe("a registry's error body is checked", () => {
  let registry: FakeRegistry;
  let answer: { status: number; body: string | Buffer } = { status: 404, body: "" };

  before(async () => {
    registry = new FakeRegistry();
    registry.hook = (_req, res) => {
      res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
      return true;
    };
    await registry.start();
  });
  after(() => registry.stop());

  async function unexpected(): Promise<PypakrError> {
    const client = new RegistryClient(registry.host, ONCE);
    try {
      const response = await client.fetch({ method: "GET", url: "/v2/x/manifests/1" }, ["repository:x:pull"]);
      return await client.unexpected(response, "a manifest");
    } finally {
      await client.close();
    }
  }

  test("entries of the wrong shape are passed over; the well-formed ones are shown", async () => {
    answer = { status: 404, body: JSON.stringify({ errors: [null, 5, { code: 7, message: "x" }, { code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: { tag: "1" } }] }) };
    const error = await unexpected();
    assert.equal(error.code, "registry-not-found");
    assert.match(error.message, /HTTP 404 .*: x; MANIFEST_UNKNOWN manifest unknown$/);
  });

  for (const [name, body] of [
    ["errors that is not a list", '{"errors": "MANIFEST_UNKNOWN"}'],
    ["a list for the whole body", '[{"code": "X"}]'],
    ["null", "null"],
    ["HTML", "<html>502 Bad Gateway</html>"],
    ["10 MB", Buffer.alloc(10 * 1024 * 1024, 0x20)],
  ] as const) {
    test(`an error body of ${name}: the status alone speaks`, async () => {
      answer = { status: 500, body };
      const error = await unexpected();
      assert.equal(error.code, "registry-failed");
      assert.match(error.message, /answered HTTP 500 to a manifest \(127\.0\.0\.1:\d+\/v2\/x\/manifests\/1\)$/);
    });
  }

  test("a hostile error message is shown on one line and capped", async () => {
    answer = { status: 400, body: JSON.stringify({ errors: [{ code: "DENIED\u001b[2J", message: `${"m".repeat(5000)}\nEntry point: ./evil` }] }) };
    const error = await unexpected();
    assert.equal(error.code, "registry-refused");
    assert.ok(!error.message.includes("\n") && !error.message.includes("\u001b"), error.message);
    assert.ok(error.message.length < 1000, `${error.message.length} characters`);
  });
});

describe("Docker's config.json and credential helpers are checked", () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let bin: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-answers-"));
    bin = path.join(dir, "bin");
    await fs.mkdir(bin);
    env = { ...process.env, HOME: path.join(dir, "home"), DOCKER_CONFIG: path.join(dir, "docker"), PATH: `${bin}:${process.env.PATH ?? ""}` };
    await fs.mkdir(path.join(dir, "docker"));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));
  beforeEach(() => fs.rm(dockerConfigFile(env), { force: true }));

  const writeConfig = (config: unknown) => fs.writeFile(dockerConfigFile(env), JSON.stringify(config));

  for (const [name, config, field] of [
    ["auths that is a string", { auths: "reg.example.com" }, "auths"],
    ["auths that is a list", { auths: [{ auth: "eDp5" }] }, "auths"],
    ["an auths entry that is a number", { auths: { "reg.example.com": 5 } }, "auths.reg.example.com"],
    ["an auth that is a number", { auths: { "reg.example.com": { auth: 5 } } }, "auths.reg.example.com.auth"],
    ["credHelpers that is a list", { credHelpers: ["x"] }, "credHelpers"],
    ["a credsStore that is an object", { credsStore: { name: "x" } }, "credsStore"],
    ["a document that is a list", [], "the document"],
  ] as const) {
    test(`a config.json with ${name}: reading and storing a login both refuse it, naming ${field}`, async () => {
      await writeConfig(config);
      const wanted = expectPypakrError("credentials-unreadable", new RegExp(`${dockerConfigFile(env).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is damaged \\(${field.replace(/\./g, "\\.")}: `));
      await assert.rejects(getCredentials("reg.example.com", env), wanted);
      await assert.rejects(storeCredentials("reg.example.com", { username: USER, secret: PASSWORD }, env), wanted);
      assert.deepEqual(JSON.parse(await fs.readFile(dockerConfigFile(env), "utf8")), config, "the file is left as it was");
    });
  }

  test("a Docker Hub login, kept under https://index.docker.io/v1/ as docker login keeps it, serves docker.io and its other names", async () => {
    await writeConfig({ auths: { "https://index.docker.io/v1/": { auth: Buffer.from("hubuser:hubpass").toString("base64") } } });
    for (const name of ["docker.io", "index.docker.io", "registry-1.docker.io"]) assert.deepEqual(await getCredentials(name, env), { username: "hubuser", secret: "hubpass" }, name);
    assert.equal(await getCredentials("ghcr.io", env), null);
  });

  test("a config.json with null sections and entries Docker accepts is read", async () => {
    await writeConfig({ auths: { "reg.example.com": null, "other.example.com": { auth: Buffer.from("a:b").toString("base64"), email: "x@example.com" } }, credHelpers: null, credsStore: "", psFormat: "table" });
    assert.equal(await getCredentials("reg.example.com", env), null);
    assert.deepEqual(await getCredentials("other.example.com", env), { username: "a", secret: "b" });
  });

  for (const [name, output, message] of [
    ["text that is not JSON", "here you go: george", /docker-credential-odd gave an answer pypakr cannot use \(not JSON\)/],
    ["null", "null", /docker-credential-odd gave an answer pypakr cannot use \(the document: .*expected object/],
    ["a list", "[]", /docker-credential-odd gave an answer pypakr cannot use \(the document: .*expected object/],
    ["a Username that is a number", JSON.stringify({ ServerURL: "reg.example.com", Username: 5, Secret: PASSWORD }), /cannot use \(Username: .*expected string/],
    ["no Secret", JSON.stringify({ ServerURL: "reg.example.com", Username: USER }), /cannot use \(Secret: .*expected string/],
  ] as const) {
    test(`a credential helper printing ${name}: a clean error naming the helper`, async () => {
      await fs.writeFile(path.join(bin, "docker-credential-odd"), `#!/bin/sh\ncat >/dev/null\nprintf '%s' '${output.replace(/'/g, "'\\''")}'\n`, { mode: 0o755 });
      await writeConfig({ credsStore: "odd" });
      await assert.rejects(getCredentials("reg.example.com", env), expectPypakrError("credential-helper-failed", message));
    });
  }

  test("a credential helper printing without end: stopped at a limit, a clean error", { timeout: 20_000 }, async () => {
    await fs.writeFile(path.join(bin, "docker-credential-endless"), "#!/bin/sh\ncat >/dev/null\nexec yes '{\"Username\": \"george\"'\n", { mode: 0o755 });
    await writeConfig({ credsStore: "endless" });
    await assert.rejects(getCredentials("reg.example.com", env), expectPypakrError("credential-helper-failed", /docker-credential-endless printed more than 1048576 characters to get credentials; it was stopped/));
  });

  test("a credential helper's empty Secret means no login there, as before", async () => {
    await fs.writeFile(path.join(bin, "docker-credential-empty"), `#!/bin/sh\ncat >/dev/null\necho '{"ServerURL":"reg.example.com","Username":"","Secret":""}'\n`, { mode: 0o755 });
    await writeConfig({ credsStore: "empty" });
    assert.equal(await getCredentials("reg.example.com", env), null);
  });
});
