import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { inspect } from "node:util";
import { dockerConfigFile, getCredentials } from "../../src/registry/credentials.js";
import { RegistryClient } from "../../src/registry/client.js";
import { login } from "../../src/registry/login.js";
import { withoutSecrets } from "../../src/registry/secrets.js";
import { PypakrError } from "../../src/util/errors.js";

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
