import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { inspect } from "node:util";
import { parseChallenges } from "../../src/registry/auth.js";
import { dockerConfigFile, eraseCredentials, getCredentials, storeCredentials } from "../../src/registry/credentials.js";
import { DEFAULT_RETRY, parseRetryAfter, retryDelay } from "../../src/registry/http.js";
import { RegistryClient } from "../../src/registry/client.js";
import { login } from "../../src/registry/login.js";
import { registerSecret, scrub, scrubError, withoutSecrets } from "../../src/registry/secrets.js";
import { PypakrError } from "../../src/util/errors.js";

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

/**
 * Every registry code path that can fail while holding a password or token:
 * nothing a user or a --debug run could see (message, hint, stack, causes,
 * util.inspect of the error) may show it, raw or base64-encoded.
 */
describe("secrets stay out of failing auth paths", () => {
  const USER = "george";
  const PASSWORD = "Pw-never-shown-71";
  const TOKEN = "tok-never-shown-83";
  const REFRESH = "refresh-never-shown-97";
  const FORBIDDEN = [PASSWORD, TOKEN, REFRESH, Buffer.from(PASSWORD).toString("base64"), Buffer.from(`${USER}:${PASSWORD}`).toString("base64"), Buffer.from(REFRESH).toString("base64")];
  const NO_RETRY = { retry: { attempts: 1 } };

  /** All the text an error carries, as the CLI (with --debug) or a log could show it. */
  function everything(error: unknown, depth = 0): string {
    if (!(error instanceof Error) || depth > 6) return String(error);
    const hint = error instanceof PypakrError ? (error.hint ?? "") : "";
    return [error.message, hint, error.stack ?? "", inspect(error, { depth: 8 }), everything(error.cause, depth + 1)].join("\n");
  }

  function assertClean(error: unknown, expected: RegExp): true {
    assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${String(error)}`);
    assert.match(error.message, expected);
    const text = everything(error);
    for (const secret of FORBIDDEN) assert.ok(!text.includes(secret), `the error shows ${secret}:\n${text}`);
    return true;
  }

  /** A registry on 127.0.0.1 whose answers each test sets; every answer echoes what it was sent, secrets included. */
  type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL, echo: string) => void;
  let server: http.Server;
  let host = "";
  let handler: Handler = (_req, res) => void res.writeHead(500).end();
  let dir = "";
  let env: NodeJS.ProcessEnv;

  before(async () => {
    server = http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", `http://${host}`);
        handler(req, res, url, `authorization=${req.headers.authorization ?? ""} body=${body} query=${url.search}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-secrets-"));
    env = { ...process.env, HOME: path.join(dir, "home"), DOCKER_CONFIG: path.join(dir, "docker") };
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await fs.rm(dir, { recursive: true, force: true });
  });

  const bearer = (realm = `http://${host}/token`) => `Bearer realm="${realm}",service="fake",scope="repository:x:pull"`;
  /** /v2/ always challenges; the token endpoint answers with `token`. */
  const withTokenEndpoint =
    (token: (res: http.ServerResponse, echo: string) => void, realm?: string): Handler =>
    (_req, res, url, echo) => {
      if (url.pathname === "/token") return token(res, echo);
      res.writeHead(401, { "www-authenticate": bearer(realm), "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: echo }] }));
    };

  const cases: { name: string; handler: () => Handler; username?: string; secret?: string; expected: RegExp }[] = [
    {
      name: "Basic: wrong password",
      handler: () => (_req, res, _url, echo) => void res.writeHead(401, { "www-authenticate": 'Basic realm="fake"' }).end(echo),
      expected: /login to .* failed/,
    },
    {
      name: "Bearer: the token service refuses the password (and echoes it)",
      handler: () => withTokenEndpoint((res, echo) => void res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ details: echo, password: PASSWORD }))),
      expected: /login to .* failed/,
    },
    {
      name: "Bearer: the token service fails with HTTP 500",
      handler: () => withTokenEndpoint((res, echo) => void res.writeHead(500).end(echo)),
      expected: /token service .* answered HTTP 500/,
    },
    {
      name: "Bearer: the token service answers something that is not JSON",
      handler: () => withTokenEndpoint((res, echo) => void res.writeHead(200).end(`<html>${echo}</html>`)),
      expected: /not JSON/,
    },
    {
      name: "Bearer: the token service answers without a token",
      handler: () => withTokenEndpoint((res, echo) => void res.writeHead(200).end(JSON.stringify({ error: echo }))),
      expected: /sent no token/,
    },
    {
      name: "Bearer: the registry refuses the token it was given",
      handler: () => withTokenEndpoint((res) => void res.writeHead(200).end(JSON.stringify({ token: TOKEN, expires_in: 300 }))),
      expected: /login to .* failed/,
    },
    {
      name: "Bearer: the registry fails with an error body echoing the token",
      handler: () => (req, res, url, echo) => {
        if (url.pathname === "/token") return void res.writeHead(200).end(JSON.stringify({ access_token: TOKEN }));
        if (!req.headers.authorization) return void res.writeHead(401, { "www-authenticate": bearer() }).end();
        res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "INTERNAL", message: `${echo} token=${TOKEN}` }] }));
      },
      expected: /answered HTTP 500/,
    },
    {
      name: "Bearer: the token service cannot be reached",
      handler: () => withTokenEndpoint(() => undefined, "http://127.0.0.1:1/token"),
      expected: /cannot reach registry/,
    },
    {
      name: "Bearer: the realm would take the password over plain HTTP to another host",
      handler: () => withTokenEndpoint(() => undefined, "http://registry.invalid/token"),
      expected: /over plain HTTP/,
    },
    {
      name: "Bearer with an identity token: the token service refuses it (and echoes the form)",
      handler: () => withTokenEndpoint((res, echo) => void res.writeHead(400).end(echo)),
      username: "<token>",
      secret: REFRESH,
      expected: /answered HTTP 400/,
    },
  ];

  for (const scenario of cases) {
    test(`no secret in the error when ${scenario.name}`, async () => {
      handler = scenario.handler();
      const credentials = { username: scenario.username ?? USER, secret: scenario.secret ?? PASSWORD };
      await assert.rejects(login(host, credentials, { ...NO_RETRY, env }), (error: unknown) => assertClean(error, scenario.expected));
      await assert.rejects(fs.access(dockerConfigFile(env)), "nothing is stored after a failed login");
    });
  }

  test("no secret in the error when a registry's error body echoes the token and the password", async () => {
    handler = (req, res, url, echo) => {
      if (url.pathname === "/token") return void res.writeHead(200).end(JSON.stringify({ access_token: TOKEN }));
      if (!req.headers.authorization) return void res.writeHead(401, { "www-authenticate": bearer() }).end();
      res.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "DENIED", message: `${echo} token=${TOKEN} password ${PASSWORD}` }] }));
    };
    // As pull and push do: the registry's own error text is shown, scrubbed.
    const client = new RegistryClient(host, { ...NO_RETRY, credentials: { username: USER, secret: PASSWORD } });
    try {
      const error = await withoutSecrets(async () => {
        const response = await client.fetch({ method: "GET", url: "/v2/team/app/manifests/1" }, ["repository:team/app:pull"]);
        return client.unexpected(response, "a manifest");
      });
      assertClean(error, /answered HTTP 403 .*DENIED/);
    } finally {
      await client.close();
    }
  });

  test("no secret in the error when the credential helper fails to store and prints what it was given", async () => {
    const bin = path.join(dir, "bin");
    await fs.mkdir(bin, { recursive: true });
    await fs.writeFile(path.join(bin, "docker-credential-leaky"), '#!/bin/sh\ninput=$(cat)\necho "cannot store $input (password in clear: $(echo "$input" | sed \'s/.*"Secret":"\\([^"]*\\)".*/\\1/\'))" >&2\nexit 3\n', { mode: 0o755 });
    await fs.mkdir(path.dirname(dockerConfigFile(env)), { recursive: true });
    await fs.writeFile(dockerConfigFile(env), JSON.stringify({ credsStore: "leaky" }));
    handler = (_req, res) => void res.writeHead(200).end("{}");
    await assert.rejects(login(host, { username: USER, secret: PASSWORD }, { ...NO_RETRY, env: { ...env, PATH: `${bin}:${process.env.PATH ?? ""}` } }), (error: unknown) => assertClean(error, /credential helper docker-credential-leaky failed to store/));
    await fs.rm(dockerConfigFile(env));
  });

  test("no secret in the error when the credential helper fails to get and prints the entry", async () => {
    const bin = path.join(dir, "bin");
    await fs.mkdir(bin, { recursive: true });
    await fs.writeFile(path.join(bin, "docker-credential-broken"), `#!/bin/sh\necho '{"ServerURL":"x","Username":"${USER}","Secret":"${PASSWORD}"}' >&2\nexit 1\n`, { mode: 0o755 });
    await fs.mkdir(path.dirname(dockerConfigFile(env)), { recursive: true });
    await fs.writeFile(dockerConfigFile(env), JSON.stringify({ credsStore: "broken" }));
    await assert.rejects(getCredentials(host, { ...env, PATH: `${bin}:${process.env.PATH ?? ""}` }), (error: unknown) => assertClean(error, /failed to get credentials/));
    await fs.rm(dockerConfigFile(env));
  });

  test("no secret in the error when a stored login is malformed", async () => {
    await fs.mkdir(path.dirname(dockerConfigFile(env)), { recursive: true });
    await fs.writeFile(dockerConfigFile(env), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`no-colon-${PASSWORD}`).toString("base64") } } }));
    await assert.rejects(getCredentials(host, env), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.match(error.message, /malformed/);
      for (const secret of [PASSWORD, Buffer.from(`no-colon-${PASSWORD}`).toString("base64")]) assert.ok(!everything(error).includes(secret));
      return true;
    });
    await fs.rm(dockerConfigFile(env));
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
