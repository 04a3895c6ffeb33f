/** pypakr serve's settings: the file (TOML, YAML) and the flags, their defaults, and errors that name FILE:LINE or the flag. */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { tomlLineFinder } from "../../../src/serve/config/toml-lines.js";
import { appNameOf, type AppSettings, type GatewaySettings, loadServeConfig, type ServeFlags, serveSettings, settingsFromFlags } from "../../../src/serve/index.js";
import { PypakrError } from "../../../src/util/errors.js";
import { makeTempDir, REPO, removeDir } from "../../support/helpers.js";

let dir = "";
let fileNumber = 0;

before(async () => {
  dir = await makeTempDir("pypakr-unit-serve-config-");
});

after(async () => {
  await removeDir(dir);
});

async function writeConfig(extension: string, text: string): Promise<string> {
  fileNumber += 1;
  const file = path.join(dir, `serve-${fileNumber}${extension}`);
  await fs.writeFile(file, text);
  return file;
}

/** A bad-config error (exit 2, with a hint) whose message holds `where` and matches `pattern`. */
function isConfigError(where: string, pattern: RegExp, code = "bad-config"): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof PypakrError, `expected a PypakrError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.exitCode, 2);
    assert.ok(error.message.startsWith(where), `the message should start with ${where} but is: ${error.message}`);
    assert.match(error.message, pattern);
    assert.ok(error.hint, "an error comes with a hint saying what is allowed");
    return true;
  };
}

const APP_DEFAULTS: Omit<AppSettings, "name" | "image"> = {
  stripPrefix: false,
  env: {},
  concurrency: 80,
  minInstances: 0,
  maxInstances: 4,
  idleTimeoutMs: 60_000,
  startTimeoutMs: 30_000,
  stopGraceMs: 10_000,
  queueLimit: 100,
  memoryBytes: 512 * 1024 ** 2,
  maxProcesses: 256,
  network: false,
};

const GATEWAY_DEFAULTS: Omit<GatewaySettings, "apps"> = {
  listen: { host: "127.0.0.1", port: 8080 },
  maxBodyBytes: 10 * 1024 ** 2,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  drainTimeoutMs: 30_000,
  insecure: false,
};

/** memory = "none" asks for no limit: the setting is left out. */
function withoutMemory<T extends { memoryBytes?: number }>(settings: T): Omit<T, "memoryBytes"> {
  const rest: Omit<T, "memoryBytes"> & { memoryBytes?: number } = { ...settings };
  delete rest.memoryBytes;
  return rest;
}

describe("loadServeConfig: defaults and formats", () => {
  test("a file with only an app's image and path gets every default, as src/serve/types.ts documents them", async () => {
    const file = await writeConfig(".toml", '[apps.hello]\nimage = "hello:1"\npath = "/hello"\n');
    assert.deepEqual(await loadServeConfig(file), { ...GATEWAY_DEFAULTS, apps: [{ name: "hello", image: "hello:1", path: "/hello", ...APP_DEFAULTS }] });
  });

  test("the same in YAML gives the same settings", async () => {
    const file = await writeConfig(".yaml", "apps:\n  hello:\n    image: hello:1\n    path: /hello\n");
    assert.deepEqual(await loadServeConfig(file), { ...GATEWAY_DEFAULTS, apps: [{ name: "hello", image: "hello:1", path: "/hello", ...APP_DEFAULTS }] });
  });

  test("docs/examples/serve.toml and serve.yaml are valid and give equal settings", async () => {
    const fromToml = await loadServeConfig(path.join(REPO, "docs", "examples", "serve.toml"));
    const fromYaml = await loadServeConfig(path.join(REPO, "docs", "examples", "serve.yaml"));
    assert.deepEqual(fromToml, fromYaml);
    assert.deepEqual(fromToml.apps.find((app) => app.name === "hello"), { name: "hello", image: "hello:1", path: "/hello", ...APP_DEFAULTS, env: { GREETING: "Hello" } });
    assert.deepEqual(fromToml.apps.find((app) => app.name === "api"), {
      name: "api",
      image: "127.0.0.1:5000/team/api:2",
      host: "api.example.test",
      healthPath: "/healthz",
      ...APP_DEFAULTS,
      concurrency: 1,
      maxInstances: 2,
      idleTimeoutMs: 120_000,
      env: { LOG_LEVEL: "info" },
    });
  });

  test("YAML apps may share settings through an anchor and a merge key", async () => {
    const file = await writeConfig(".yaml", "apps:\n  a: { <<: &shared { concurrency: 1, idle-timeout: 1s }, image: a, path: /a }\n  b: { <<: *shared, image: b, path: /b, concurrency: 2 }\n");
    const settings = await loadServeConfig(file);
    assert.deepEqual(settings.apps.map(({ name, concurrency, idleTimeoutMs }) => ({ name, concurrency, idleTimeoutMs })), [
      { name: "a", concurrency: 1, idleTimeoutMs: 1000 },
      { name: "b", concurrency: 2, idleTimeoutMs: 1000 },
    ]);
  });

  test("every setting is read, with durations and sizes in their units, and .yml is YAML", async () => {
    const toml = await writeConfig(
      ".toml",
      [
        'listen = "[::1]:0"',
        "max-body = 1024",
        'header-timeout = "500ms"',
        "request-timeout = 1.5",
        'drain-timeout = "0s"',
        "[apps.a]",
        'image = "./a.tar"',
        'path = "/a/b/"',
        'host = "A.Example.TEST"',
        "strip-prefix = true",
        'env = { X = "1", _y = "" }',
        "concurrency = 1",
        "min-instances = 2",
        "max-instances = 2",
        'idle-timeout = "2m"',
        'start-timeout = "1h"',
        "stop-grace = 0",
        "queue-limit = 0",
        'health-path = "/ready?deep=1"',
        'memory = "1G"',
        'max-processes = "none"',
        "network = true",
        "[apps.b]",
        'image = "b"',
        'path = "/"',
        'memory = "none"',
      ].join("\n"),
    );
    const settings = await loadServeConfig(toml);
    assert.deepEqual(settings, {
      listen: { host: "::1", port: 0 },
      maxBodyBytes: 1024,
      headersTimeoutMs: 500,
      requestTimeoutMs: 1500,
      drainTimeoutMs: 0,
      insecure: false,
      apps: [
        {
          name: "a",
          image: "./a.tar",
          path: "/a/b",
          host: "a.example.test",
          stripPrefix: true,
          env: { X: "1", _y: "" },
          concurrency: 1,
          minInstances: 2,
          maxInstances: 2,
          idleTimeoutMs: 120_000,
          startTimeoutMs: 3_600_000,
          stopGraceMs: 0,
          queueLimit: 0,
          healthPath: "/ready?deep=1",
          memoryBytes: 1024 ** 3,
          network: true,
        },
        { name: "b", image: "b", path: "/", ...withoutMemory(APP_DEFAULTS) },
      ],
    });
    const yml = await writeConfig(".yml", 'listen: "0.0.0.0:9000"\nmax-body: 10MB\napps:\n  c:\n    image: c\n    host: c.test\n    memory: 256M\n');
    const fromYml = await loadServeConfig(yml);
    assert.deepEqual(fromYml.listen, { host: "0.0.0.0", port: 9000 });
    assert.equal(fromYml.maxBodyBytes, 10_000_000);
    assert.equal(fromYml.apps[0]?.memoryBytes, 256 * 1024 ** 2);
    assert.equal(fromYml.apps[0]?.path, undefined);
  });
});

describe("loadServeConfig: errors name the file and line", () => {
  test("a file that is neither .toml nor .yaml/.yml is refused by name, with the allowed extensions", async () => {
    const file = await writeConfig(".json", "{}");
    await assert.rejects(loadServeConfig(file), isConfigError(file, /TOML or YAML/));
    await assert.rejects(loadServeConfig(file), (error: PypakrError) => /\.toml, \.yaml or \.yml/.test(error.hint ?? ""));
  });

  test("a missing file is named", async () => {
    const file = path.join(dir, "nope.toml");
    await assert.rejects(loadServeConfig(file), isConfigError(`cannot read ${file}`, /no such file/));
  });

  test("a TOML syntax error names FILE:LINE:COLUMN", async () => {
    const file = await writeConfig(".toml", '[apps.a]\nimage = "a"\npath = \n');
    await assert.rejects(loadServeConfig(file), isConfigError(`${file}:3:8: `, /invalid value/));
  });

  test("a YAML syntax error names FILE:LINE:COLUMN", async () => {
    const file = await writeConfig(".yaml", "apps:\n  a:\n    image: a: b\n    path: /a\n");
    await assert.rejects(loadServeConfig(file), isConfigError(`${file}:3:12: `, /Nested mappings are not allowed/));
    const misaligned = await writeConfig(".yaml", "apps:\n  a:\n    image: a\n   path: /a\n");
    await assert.rejects(loadServeConfig(misaligned), isConfigError(`${misaligned}:4:`, /same column/));
  });

  test("a YAML key given twice is a syntax error at the second", async () => {
    const file = await writeConfig(".yaml", "apps:\n  a:\n    image: a\n    path: /a\n    image: b\n");
    await assert.rejects(loadServeConfig(file), isConfigError(`${file}:5:`, /unique/i));
  });

  // Each schema error, in both formats, at the line of the offending key.
  const cases: { name: string; toml: string; yaml: string; tomlLine: number; yamlLine: number; message: RegExp }[] = [
    {
      name: "an unknown key in an app (a typo)",
      toml: '[apps.a]\nimage = "a"\npath = "/a"\nmax-instance = 2\n',
      yaml: "apps:\n  a:\n    image: a\n    path: /a\n    max-instance: 2\n",
      tomlLine: 4,
      yamlLine: 5,
      message: /apps\.a\.max-instance: unknown setting "max-instance"/,
    },
    {
      name: "an unknown key at the top",
      toml: 'listen = "127.0.0.1:1"\nlisten-on = "x"\n[apps.a]\nimage = "a"\npath = "/"\n',
      yaml: 'listen: "127.0.0.1:1"\nlisten-on: x\napps:\n  a: {image: a, path: /}\n',
      tomlLine: 2,
      yamlLine: 2,
      message: /listen-on: unknown setting/,
    },
    {
      name: "a bad duration",
      toml: '[apps.a]\nimage = "a"\npath = "/a"\n\nidle-timeout = "5 minutes"\n',
      yaml: "apps:\n  a:\n    image: a\n    path: /a\n\n    idle-timeout: 5 minutes\n",
      tomlLine: 5,
      yamlLine: 6,
      message: /apps\.a\.idle-timeout: must be a duration .*"5 minutes"/,
    },
    {
      name: "min-instances above max-instances",
      toml: '[apps.a]\nimage = "a"\npath = "/a"\nmax-instances = 1\nmin-instances = 2\n',
      yaml: "apps:\n  a:\n    image: a\n    path: /a\n    max-instances: 1\n    min-instances: 2\n",
      tomlLine: 5,
      yamlLine: 6,
      message: /apps\.a\.min-instances: must not exceed max-instances \(1\)/,
    },
    {
      name: "max-instances below 1",
      toml: '[apps.a]\nimage = "a"\npath = "/a"\nmax-instances = 0\n',
      yaml: "apps:\n  a:\n    image: a\n    path: /a\n    max-instances: 0\n",
      tomlLine: 4,
      yamlLine: 5,
      message: /apps\.a\.max-instances: must be a whole number from 1 to/,
    },
    {
      name: "a path with ..",
      toml: '[apps.a]\nimage = "a"\npath = "/a/../b"\n',
      yaml: "apps:\n  a:\n    image: a\n    path: /a/../b\n",
      tomlLine: 3,
      yamlLine: 4,
      message: /apps\.a\.path: must not hold "\.\."/,
    },
    {
      name: "a path without its leading /",
      toml: '[apps.a]\nimage = "a"\npath = "a"\n',
      yaml: "apps:\n  a:\n    image: a\n    path: a\n",
      tomlLine: 3,
      yamlLine: 4,
      message: /apps\.a\.path: must be a path starting with "\/"/,
    },
    {
      name: "two apps with the same route (a trailing / is the same prefix)",
      toml: '[apps.a]\nimage = "a"\npath = "/x"\n[apps.b]\nimage = "b"\npath = "/x/"\n',
      yaml: "apps:\n  a:\n    image: a\n    path: /x\n  b:\n    image: b\n    path: /x/\n",
      tomlLine: 6,
      yamlLine: 7,
      message: /apps\.b\.path: has the same route as app a/,
    },
    {
      name: "PORT in env (an inline table in TOML)",
      toml: '[apps.a]\nimage = "a"\npath = "/a"\nenv = { OK = "1", PORT = "80" }\n',
      yaml: "apps:\n  a:\n    image: a\n    path: /a\n    env:\n      OK: '1'\n      PORT: '80'\n",
      tomlLine: 4,
      yamlLine: 7,
      message: /apps\.a\.env\.PORT: PORT is the gateway's/,
    },
    {
      name: "an env value that is not a string",
      toml: '[apps.a]\nimage = "a"\npath = "/a"\n[apps.a.env]\nOK = "1"\nDEBUG = 1\n',
      yaml: "apps:\n  a:\n    image: a\n    path: /a\n    env:\n      OK: '1'\n      DEBUG: 1\n",
      tomlLine: 6,
      yamlLine: 7,
      message: /apps\.a\.env\.DEBUG: must be a string/,
    },
    {
      name: "an app without a route",
      toml: '[apps.a]\nimage = "a"\n',
      yaml: "apps:\n  a:\n    image: a\n",
      tomlLine: 1,
      yamlLine: 2,
      message: /apps\.a: has no route/,
    },
    {
      name: "an app without an image",
      toml: '\n[apps.a]\npath = "/a"\n',
      yaml: "apps:\n  a:\n    path: /a\n",
      tomlLine: 2,
      yamlLine: 2,
      message: /apps\.a\.image: is missing/,
    },
    {
      name: "a bad app name",
      toml: '[apps.Hello]\nimage = "a"\npath = "/a"\n',
      yaml: "apps:\n  Hello:\n    image: a\n    path: /a\n",
      tomlLine: 1,
      yamlLine: 2,
      message: /apps\.Hello: is not a valid app name/,
    },
    {
      name: "a host with a port",
      toml: '[apps.a]\nimage = "a"\nhost = "a.test:8080"\n',
      yaml: "apps:\n  a:\n    image: a\n    host: a.test:8080\n",
      tomlLine: 3,
      yamlLine: 4,
      message: /apps\.a\.host: must have no port/,
    },
    {
      name: "a listen address without a port",
      toml: 'listen = "127.0.0.1"\n[apps.a]\nimage = "a"\npath = "/"\n',
      yaml: "listen: 127.0.0.1\napps:\n  a: {image: a, path: /}\n",
      tomlLine: 1,
      yamlLine: 1,
      message: /listen: must be HOST:PORT/,
    },
    {
      name: "a header timeout longer than the request timeout",
      toml: 'request-timeout = "1s"\nheader-timeout = "2s"\n[apps.a]\nimage = "a"\npath = "/"\n',
      yaml: "request-timeout: 1s\nheader-timeout: 2s\napps:\n  a: {image: a, path: /}\n",
      tomlLine: 2,
      yamlLine: 2,
      message: /header-timeout: must not exceed request-timeout/,
    },
    {
      name: "a memory limit that is not a size",
      toml: '[apps.a]\nimage = "a"\npath = "/a"\nmemory = "lots"\n',
      yaml: "apps:\n  a:\n    image: a\n    path: /a\n    memory: lots\n",
      tomlLine: 4,
      yamlLine: 5,
      message: /apps\.a\.memory: must be a size/,
    },
    {
      name: "a file without apps",
      toml: 'listen = "127.0.0.1:8080"\n',
      yaml: 'listen: "127.0.0.1:8080"\n',
      tomlLine: 1,
      yamlLine: 1,
      message: /apps: has no app/,
    },
  ];
  for (const { name, toml, yaml, tomlLine, yamlLine, message } of cases) {
    test(`TOML: ${name} is refused at its line`, async () => {
      const file = await writeConfig(".toml", toml);
      await assert.rejects(loadServeConfig(file), isConfigError(`${file}:${tomlLine}: `, message));
    });
    test(`YAML: ${name} is refused at its line`, async () => {
      const file = await writeConfig(".yaml", yaml);
      await assert.rejects(loadServeConfig(file), isConfigError(`${file}:${yamlLine}: `, message));
    });
  }

  test("an empty file lacks apps, in either format", async () => {
    for (const extension of [".toml", ".yaml"]) {
      const file = await writeConfig(extension, "# nothing yet\n");
      await assert.rejects(loadServeConfig(file), isConfigError(`${file}:1: apps: `, /has no app/));
    }
  });

  test("every problem of a file is listed, in line order, and the hint says what the first one allows", async () => {
    const file = await writeConfig(".toml", '[apps.a]\nimage = "a"\npath = "/a"\nqueue-limit = -1\nconcurrency = 0\n');
    await assert.rejects(loadServeConfig(file), (error: PypakrError) => {
      assert.match(error.message, new RegExp(`^${file}:4: apps\\.a\\.queue-limit: .*\\n${file}:5: apps\\.a\\.concurrency: `));
      assert.match(error.hint ?? "", /^Requests that may wait for an instance .*\(default 100\)\.$/);
      return true;
    });
  });

  test("an unknown key's hint lists the allowed keys", async () => {
    const file = await writeConfig(".toml", '[apps.a]\nimage = "a"\npath = "/a"\nidle_timeout = 1\n');
    await assert.rejects(loadServeConfig(file), (error: PypakrError) => /idle-timeout/.test(error.hint ?? "") && /max-instances/.test(error.hint ?? ""));
  });
});

describe("the line of a TOML key", () => {
  test("is found through dotted, quoted and inline keys, and never inside strings or arrays", () => {
    const text = [
      'listen = "x" # [apps.fake]', // 1
      'note = """', // 2
      "image = 'not a key'", // 3
      '"""', // 4
      "list = [", // 5
      '  "a = 1",', // 6
      "  { b = 2 },", // 7
      "]", // 8
      "[apps]", // 9
      'one.image = "x"', // 10
      '[ apps . "two" ]', // 11
      "'path' = '/x'", // 12
      "env = { A = 1,", // 13 (not valid TOML 1.0, but the scanner copes)
      "  B = 2 }", // 14
      "[[apps.three]]", // 15
      "x = 1", // 16
    ].join("\n");
    const lineOf = tomlLineFinder(text);
    assert.equal(lineOf(["listen"]), 1);
    assert.equal(lineOf(["note"]), 2);
    assert.equal(lineOf(["image"]), 1, "a key-like line inside a multi-line string is no key");
    assert.equal(lineOf(["list", "0"]), 6);
    assert.equal(lineOf(["list", "1", "b"]), 7);
    assert.equal(lineOf(["apps"]), 9);
    assert.equal(lineOf(["apps", "one", "image"]), 10);
    assert.equal(lineOf(["apps", "two"]), 11);
    assert.equal(lineOf(["apps", "two", "path"]), 12);
    assert.equal(lineOf(["apps", "two", "env", "B"]), 14);
    assert.equal(lineOf(["apps", "two", "nothing"]), 11, "a key the file lacks gets its table's line");
    assert.equal(lineOf(["apps", "three", "0", "x"]), 16);
    assert.equal(lineOf(["fake"]), 1);
  });
});

/** The command line of `pypakr serve` as the command hands it over, with these flags set. */
function flags(given: Partial<ServeFlags>): ServeFlags {
  return { route: [], stripPrefix: false, env: {}, network: false, insecure: false, ...given };
}

describe("settingsFromFlags", () => {
  test("--route /PREFIX=IMAGE apps get every default, named after their image", () => {
    const settings = settingsFromFlags(flags({ route: ["/hello=127.0.0.1:5000/team/hello:1", "/=./site.tar"] }));
    assert.deepEqual(settings, {
      ...GATEWAY_DEFAULTS,
      apps: [
        { name: "hello", image: "127.0.0.1:5000/team/hello:1", path: "/hello", ...APP_DEFAULTS },
        { name: "site", image: "./site.tar", path: "/", ...APP_DEFAULTS },
      ],
    });
  });

  test("HOST/PREFIX=IMAGE routes by Host too; HOST/=IMAGE takes every path of the host", () => {
    const settings = settingsFromFlags(flags({ route: ["Api.Example.test/=api:1", "example.test/v1=api:2"] }));
    assert.deepEqual(
      settings.apps.map(({ name, host, path }) => ({ name, host, path })),
      [
        { name: "api", host: "api.example.test", path: "/" },
        { name: "api-2", host: "example.test", path: "/v1" },
      ],
    );
  });

  test("every per-app flag applies to every --route app, read as the file reads it", () => {
    const settings = settingsFromFlags(
      flags({
        route: ["/a=a", "/b=b"],
        listen: "127.0.0.1:0",
        maxBody: "1MiB",
        headerTimeout: "1s",
        requestTimeout: "2s",
        drainTimeout: "3",
        stripPrefix: true,
        env: { GREETING: "hi" },
        concurrency: "1",
        minInstances: "1",
        maxInstances: "2",
        idleTimeout: "1s",
        startTimeout: "500ms",
        stopGrace: "0",
        queueLimit: "5",
        healthPath: "/healthz",
        memory: "none",
        maxProcesses: "64",
        network: true,
      }),
    );
    assert.deepEqual(settings.listen, { host: "127.0.0.1", port: 0 });
    assert.deepEqual([settings.maxBodyBytes, settings.headersTimeoutMs, settings.requestTimeoutMs, settings.drainTimeoutMs], [1024 ** 2, 1000, 2000, 3000]);
    for (const name of ["a", "b"]) {
      assert.deepEqual(
        settings.apps.find((app) => app.name === name),
        {
          name,
          image: name,
          path: `/${name}`,
          stripPrefix: true,
          env: { GREETING: "hi" },
          concurrency: 1,
          minInstances: 1,
          maxInstances: 2,
          idleTimeoutMs: 1000,
          startTimeoutMs: 500,
          stopGraceMs: 0,
          queueLimit: 5,
          healthPath: "/healthz",
          maxProcesses: 64,
          network: true,
        },
      );
    }
  });

  test("a bad flag value is refused naming the flag, once however many apps it applies to", () => {
    assert.throws(
      () => settingsFromFlags(flags({ route: ["/a=a", "/b=b"], maxInstances: "0" })),
      (error: PypakrError) => {
        isConfigError("--max-instances: ", /must be a whole number from 1 to/)(error);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
    );
    assert.throws(() => settingsFromFlags(flags({ route: ["/a=a"], concurrency: "lots" })), isConfigError("--concurrency: ", /not "lots"/));
    assert.throws(() => settingsFromFlags(flags({ route: ["/a=a"], idleTimeout: "soon" })), isConfigError("--idle-timeout: ", /must be a duration/));
    assert.throws(() => settingsFromFlags(flags({ route: ["/a=a"], env: { PORT: "1" } })), isConfigError("--env PORT: ", /gateway's/));
    assert.throws(() => settingsFromFlags(flags({ route: ["/a=a"], listen: "8080" })), isConfigError("--listen: ", /HOST:PORT/));
  });

  test("a bad route is refused naming it", () => {
    assert.throws(() => settingsFromFlags(flags({ route: ["/a/../b=a"] })), isConfigError("--route /a/../b=a: path: ", /\.\./));
    assert.throws(() => settingsFromFlags(flags({ route: ["/a=a", "/a/=b"] })), isConfigError("--route /a/=b: path: ", /same route as app a/));
    assert.throws(() => settingsFromFlags(flags({ route: ["bad_host!/=a"] })), isConfigError("--route bad_host!/=a: host: ", /host name/));
    assert.throws(() => settingsFromFlags(flags({ route: ["hello=a"] })), isConfigError("--route", /is not \/PREFIX=IMAGE or HOST\/PREFIX=IMAGE/, "usage"));
    assert.throws(() => settingsFromFlags(flags({ route: ["/hello="] })), isConfigError("--route", /is not \/PREFIX=IMAGE/, "usage"));
  });
});

describe("serveSettings", () => {
  test("--config excludes --route and every settings flag, but not the registry connection", async () => {
    const file = await writeConfig(".toml", '[apps.a]\nimage = "a"\npath = "/"\n');
    await assert.rejects(serveSettings(flags({ config: file, route: ["/b=b"] })), isConfigError("--config excludes --route", /the file holds every setting/, "usage"));
    await assert.rejects(serveSettings(flags({ config: file, idleTimeout: "1s", network: true })), isConfigError("--config excludes --idle-timeout, --network", /./, "usage"));
    await assert.rejects(serveSettings(flags({ config: file, env: { A: "1" } })), isConfigError("--config excludes --env", /./, "usage"));
    const settings = await serveSettings(flags({ config: file, insecure: true, caFile: "/ca.pem" }));
    assert.equal(settings.insecure, true);
    assert.equal(settings.caFile, "/ca.pem");
    assert.equal(settings.apps[0]?.name, "a");
  });

  test("without --config or --route there is nothing to serve: a usage error", async () => {
    await assert.rejects(serveSettings(flags({ listen: "127.0.0.1:9" })), isConfigError("pypakr serve needs --config FILE or at least one --route", /./, "usage"));
  });
});

describe("appNameOf", () => {
  test("names an app after the last part of its image's name", () => {
    assert.equal(appNameOf("hello:1"), "hello");
    assert.equal(appNameOf("127.0.0.1:5000/team/Hello_World:2"), "hello_world");
    assert.equal(appNameOf("registry.test/a/b@sha256:0123456789abcdef"), "b");
    assert.equal(appNameOf("/images/site.tar.gz"), "site");
    assert.equal(appNameOf("./my app.tar"), "my-app");
    assert.equal(appNameOf("sha256:0123456789abcdef0123"), "0123456789ab");
    assert.equal(appNameOf("0123abc"), "0123abc");
    assert.equal(appNameOf("--"), "app");
    assert.match(appNameOf("x".repeat(200)), /^x{56}$/);
  });
});
