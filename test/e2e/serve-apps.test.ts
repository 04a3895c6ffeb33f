/**
 * The apps the serve tests and the benchmark share (test/support/serve-apps.ts),
 * run WITHOUT a gateway or a sandbox: they do what they claim. For the hostile
 * apps that means each attack gets through when nothing stops it, so an
 * isolation test that sees it refused inside the sandbox can fail.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { after, test } from "node:test";
import { expectOk, freePort, pypakr, usePrivateHome } from "../support/helpers.js";
import { appImage, helloApp, hostileApp, neverReadyApp, singleApp, writeAppSource, type AppSpec, type Attack } from "../support/serve-apps.js";

const own = usePrivateHome({ prefix: "pypakr-serve-apps-" });
const started: ChildProcess[] = [];
after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

interface Running {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `run` in `dir` with PORT set and `python` first on PATH; resolves once it says it listens (or after 20 s, failing). */
async function start(dir: string, bin: string, env: Record<string, string> = {}, prefix: string[] = []): Promise<Running> {
  const port = await freePort();
  const argv = [...prefix, path.join(dir, "run")];
  const child = spawn(argv[0] ?? "", argv.slice(1), { cwd: dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, PORT: String(port), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  started.push(child);
  let text = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 20_000;
  while (!/listening on 127\.0\.0\.1:\d+/.test(text)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${dir}/run did not start listening:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, port, output: () => text, exited };
}

function request(port: number, urlPath: string, options: { method?: string; body?: string[]; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: urlPath, method: options.method ?? "GET", headers: options.headers, timeout: 60_000 }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer to ${urlPath} within 60 s`)));
    req.on("error", reject);
    for (const chunk of options.body ?? []) req.write(chunk);
    req.end();
  });
}

/** The stdlib apps run from their sources with a venv of the test's own (so "its container" is that venv). */
async function sourceOf(app: AppSpec): Promise<string> {
  return writeAppSource(app, path.join(own.dir, "sources", app.name));
}

let venv: string | null = null;
function testVenv(): string {
  if (venv === null) {
    venv = path.join(own.dir, "venv");
    const made = spawnSync("python3", ["-m", "venv", "--without-pip", venv], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
  }
  return path.join(venv, "bin");
}

test("hello, from a local wheel in its image: answers, echoes headers and streamed bodies, and drains on SIGTERM", { timeout: 180_000 }, async () => {
  const image = await appImage(helloApp(), { dir: own.dir, pypakr: (args) => pypakr(args, { home: own.home }) });
  const container = path.join(own.dir, "hello-container");
  expectOk(await pypakr(["create-container", "-i", image.tag, "-c", container], { home: own.home }), "create-container");
  const app = await start(container, path.join(container, "bin"));
  const pid = app.child.pid ?? 0;

  assert.deepEqual(await request(app.port, "/hello/"), { status: 200, body: `hello from hello pid ${pid}\n` });
  const echoed = JSON.parse((await request(app.port, "/hello/echo?x=1", { headers: { "X-Forwarded-For": "203.0.113.7" } })).body) as { method: string; path: string; headers: Record<string, string> };
  assert.equal(echoed.method, "GET");
  assert.equal(echoed.path, "/hello/echo?x=1");
  assert.equal(echoed.headers["X-Forwarded-For"], "203.0.113.7");
  assert.deepEqual(await request(app.port, "/echo", { method: "POST", body: ["first ", "second"] }), { status: 200, body: "first second" });
  assert.deepEqual(await request(app.port, "/echo", { method: "POST", body: ["fixed"], headers: { "Content-Length": "5" } }), { status: 200, body: "fixed" });

  // SIGTERM while a request is in flight: it is answered, then the app exits 0.
  const slow = request(app.port, "/slow?ms=800");
  await new Promise((resolve) => setTimeout(resolve, 200));
  app.child.kill("SIGTERM");
  assert.deepEqual(await slow, { status: 200, body: "slept 800 ms\n" });
  assert.deepEqual(await app.exited, { code: 0, signal: null });
  assert.match(app.output(), /^draining$/m);

  const crashing = await start(container, path.join(container, "bin"));
  await assert.rejects(request(crashing.port, "/crash"));
  assert.deepEqual(await crashing.exited, { code: 3, signal: null });
});

test("single serves one request at a time; never-ready never listens", { timeout: 60_000 }, async () => {
  const single = await start(await sourceOf(singleApp()), testVenv());
  const begun = Date.now();
  const answers = await Promise.all([request(single.port, "/slow?ms=300"), request(single.port, "/a/slow?ms=300")]);
  const took = Date.now() - begun;
  assert.ok(took >= 600, `two 300 ms requests took ${took} ms: served at once`);
  // Not held up either: the first connection is closed after its answer, not kept idle (which blocks the server's one thread).
  assert.ok(took < 3000, `two 300 ms requests took ${took} ms`);
  assert.ok(answers.every((answer) => answer.status === 200));
  single.child.kill("SIGTERM");
  assert.deepEqual(await single.exited, { code: 0, signal: null });

  const dir = await sourceOf(neverReadyApp());
  const port = await freePort();
  const child = spawn(path.join(dir, "run"), [], { cwd: dir, env: { ...process.env, PATH: `${testVenv()}:${process.env.PATH ?? ""}`, PORT: String(port) }, stdio: ["ignore", "ignore", "pipe"] });
  started.push(child);
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(child.exitCode, null, "never-ready keeps running");
  await assert.rejects(request(port, "/"), /ECONNREFUSED/);
  assert.match(stderr, /never-ready: not listening/);
  child.kill("SIGKILL");
});

async function attack(name: Attack, env: Record<string, string> = {}, prefix: string[] = []): Promise<Record<string, unknown>> {
  const app = await start(await sourceOf(hostileApp(name)), testVenv(), env, prefix);
  try {
    const answer = await request(app.port, "/");
    assert.equal(answer.status, 200, app.output());
    return JSON.parse(answer.body) as Record<string, unknown>;
  } finally {
    app.child.kill("SIGKILL");
  }
}

test("each hostile app's attack gets through when nothing stops it, and says so", { timeout: 120_000 }, async () => {
  const secret = path.join(own.dir, "secret.txt");
  await fs.writeFile(secret, "twelve bytes");
  const read = (await attack("read-outside", { SECRET_PATHS: `${secret}:${path.join(own.dir, "missing")}` })).results as Record<string, string>;
  assert.equal(read[secret], "read 12 bytes");
  assert.equal(read[path.join(own.dir, "missing")], "ENOENT");

  const wrote = (await attack("write-container")) as { prefix: string; results: Record<string, string> };
  assert.equal(wrote.prefix, path.dirname(testVenv()));
  assert.ok(Object.values(wrote.results).every((result) => result === "wrote"), JSON.stringify(wrote));
  await fs.access(path.join(wrote.prefix, "pwned"));

  const listener = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const open = `127.0.0.1:${(listener.address() as net.AddressInfo).port}`;
  const closed = `127.0.0.1:${await freePort()}`;
  try {
    const connected = (await attack("connect-out", { TARGETS: `${open},${closed}` })).results as Record<string, string>;
    assert.deepEqual(connected, { [open]: "connected", [closed]: "ECONNREFUSED" });
  } finally {
    listener.close();
  }

  assert.deepEqual(await attack("fork-bomb", { FORK_CAP: "20" }), { attack: "fork-bomb", forked: 20, error: null });
  assert.deepEqual(await attack("allocate", { ALLOC_CAP_MB: "64" }), { attack: "allocate", allocatedMB: 64, error: null });
  // Under an address-space limit the allocation stops with MemoryError, and the app still answers.
  const limited = await attack("allocate", { ALLOC_CAP_MB: "2048" }, ["prlimit", "--as=400000000"]);
  assert.equal(limited.error, "MemoryError");
  assert.ok((limited.allocatedMB as number) < 400, JSON.stringify(limited));
});
