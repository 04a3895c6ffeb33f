/**
 * Malformed JSON from a registry, its token service, Docker's config.json or
 * a credential helper, through the real CLI: each is a clean error (message,
 * hint, the stable code in --json), never an internal error or a stack, and
 * the user's config.json is left as it was.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { expectCleanFailure, makeTempDir, pypakr, removeDir, type CliResult } from "../support/helpers.js";
import { FAKE_TOKEN, FakeRegistry } from "../support/registry.js";

const USER = "george";
const PASSWORD = "pw-answers-e2e-43";

let dir: string;
let registry: FakeRegistry;
let env: NodeJS.ProcessEnv;
let home: string;
/** What the fake registry's /token answers, and what its manifests answer (null: as a registry would). */
let tokenBody: string | Buffer = JSON.stringify({ token: FAKE_TOKEN });
let manifestAnswer: { status: number; body: string } | null = null;

before(async () => {
  dir = await makeTempDir("pypakr-answers-");
  home = path.join(dir, "home");
  await fs.mkdir(path.join(dir, "bin"));
  await fs.mkdir(path.join(dir, "docker"));
  env = { DOCKER_CONFIG: path.join(dir, "docker"), PATH: `${path.join(dir, "bin")}:${process.env.PATH ?? ""}` };
  registry = new FakeRegistry();
  registry.auth = { kind: "bearer", user: USER, password: PASSWORD };
  registry.hook = (req, res, url) => {
    if (url.pathname === "/token") {
      res.writeHead(200, { "content-type": "application/json" }).end(tokenBody);
      return true;
    }
    if (manifestAnswer && url.pathname.includes("/manifests/") && req.headers.authorization === `Bearer ${FAKE_TOKEN}`) {
      res.writeHead(manifestAnswer.status, { "content-type": "application/json" }).end(manifestAnswer.body);
      return true;
    }
    return false;
  };
  await registry.start();
});
after(async () => {
  await registry?.stop();
  await removeDir(dir);
});

function pull(): Promise<CliResult> {
  return pypakr(["pull", `${registry.host}/team/app:1`, "--json"], { home, env });
}

/** A clean failure with this code in --json (on stderr), and no secret anywhere. */
function expectCode(result: CliResult, code: string, message: RegExp): void {
  assert.notEqual(result.code, 0);
  assert.equal(result.stdout, "");
  const error = (JSON.parse(result.stderr) as { error: { code: string; message: string; hint: string | null } }).error;
  assert.equal(error.code, code, result.stderr);
  assert.match(error.message, message);
  assert.ok(error.hint, "a hint says what to do");
  assert.ok(!result.stderr.includes(PASSWORD), "no password in the output");
}

describe("malformed answers from a registry's token service, through pull", () => {
  for (const [name, body, code, message] of [
    ['{"token": 5}', '{"token": 5}', "registry-misbehaved", /token service .* cannot use \(token: .*expected string/],
    ["[]", "[]", "registry-misbehaved", /token service .* cannot use \(the document: .*expected object/],
    ["null", "null", "registry-misbehaved", /token service .* cannot use \(the document: .*expected object/],
    ["a token with a line break", JSON.stringify({ token: "a\r\nX-Injected: 1" }), "registry-misbehaved", /token: .*HTTP header/],
    ["a body of 10 MB", Buffer.alloc(10 * 1024 * 1024, 0x20), "too-large", /more than 1048576 bytes for a token/],
  ] as const) {
    test(`the token endpoint answers ${name}: a clean ${code} error`, async () => {
      await fs.writeFile(path.join(dir, "docker", "config.json"), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") } } }));
      tokenBody = body;
      expectCode(await pull(), code, message);
      tokenBody = JSON.stringify({ token: FAKE_TOKEN });
    });
  }

  test("an error body of the wrong shape: the status speaks, the well-formed entries are shown", async () => {
    manifestAnswer = { status: 404, body: JSON.stringify({ errors: [null, { code: ["x"] }, { code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }) };
    const result = await pull();
    manifestAnswer = null;
    expectCode(result, "registry-not-found", /answered HTTP 404 .*: MANIFEST_UNKNOWN manifest unknown$/);
  });

  test("a manifest that is JSON null: a clean image-invalid error", async () => {
    manifestAnswer = { status: 200, body: "null" };
    const result = await pull();
    manifestAnswer = null;
    expectCode(result, "image-invalid", /manifest/);
  });
});

describe("malformed Docker config.json and credential helpers, through login and pull", () => {
  test("login with a config.json whose auths is a string: a clean error, the file unchanged", async () => {
    const file = path.join(dir, "docker", "config.json");
    const text = JSON.stringify({ auths: "oops", psFormat: "table" });
    await fs.writeFile(file, text);
    const result = await pypakr(["login", registry.host, "-u", USER, "--password-stdin"], { home, env, input: PASSWORD });
    expectCleanFailure(result, /config\.json is damaged \(auths: .*expected record/);
    assert.equal(await fs.readFile(file, "utf8"), text);
  });

  test("pull with a config.json whose auths entry is a number: a clean error naming it", async () => {
    await fs.writeFile(path.join(dir, "docker", "config.json"), JSON.stringify({ auths: { [registry.host]: 5 } }));
    expectCode(await pull(), "credentials-unreadable", /config\.json is damaged \(auths\.127\.0\.0\.1:\d+: /);
  });

  for (const [name, output, message] of [
    ["text that is not JSON", "george hunter2", /docker-credential-odd gave an answer pypakr cannot use \(not JSON\)/],
    ["null", "null", /docker-credential-odd gave an answer pypakr cannot use \(the document: /],
    ["a Username that is a list", JSON.stringify({ Username: ["george"], Secret: PASSWORD }), /docker-credential-odd gave an answer pypakr cannot use \(Username: /],
  ] as const) {
    test(`a credential helper printing ${name}: a clean credential-helper-failed error`, async () => {
      await fs.writeFile(path.join(dir, "bin", "docker-credential-odd"), `#!/bin/sh\ncat >/dev/null\nprintf '%s' '${output}'\n`, { mode: 0o755 });
      await fs.writeFile(path.join(dir, "docker", "config.json"), JSON.stringify({ credsStore: "odd" }));
      expectCode(await pull(), "credential-helper-failed", message);
    });
  }
});
