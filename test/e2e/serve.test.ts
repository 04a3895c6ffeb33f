// test-stream: own-home
/**
 * `pypakr serve` as its users meet it: the built CLI with --config or --route,
 * real sandboxes, real HTTP on 127.0.0.1. Apps from test/support/serve-apps.ts
 * (hello from a local wheel, single, never-ready), built once, offline.
 * Gateways with the same settings are shared by the cases that need them;
 * every gateway is stopped in an `after` hook (a leftover would keep its
 * sandboxes alive), and every wait is bounded.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { expectCleanFailure, freePort, pypakr, usePrivateHome } from "../support/helpers.js";
import { accepts, descendants, Gateway, isRunning, processesOfUid, processInfo, serveToml, sleep, stopGateways, until, type Answer } from "../support/serve-gateway.js";
import { appImage, helloApp, neverReadyApp, singleApp } from "../support/serve-apps.js";

// Declared first, so it runs before the private home (holding the gateways' containers) is removed.
after(stopGateways);
const own = usePrivateHome({
  prefix: "pypakr-serve-",
  setup: async () => {
    const maker = { dir: own.dir, pypakr: (args: string[]) => pypakr(args, { home: own.home }) };
    await Promise.all([helloApp(), singleApp(), neverReadyApp()].map((app) => appImage(app, maker)));
  },
});

/** Fails with the gateway's log, which is what one needs to see when a status is not the one expected. */
function expectStatus(answer: Answer, status: number, gateway: Gateway): void {
  assert.equal(answer.status, status, `answered ${answer.status}: ${answer.text.slice(0, 500)}\n--- gateway log\n${gateway.log()}`);
}

/** Resolves whether or not `promise` does, so a poll can stop when it settles. */
function settled(promise: Promise<unknown>): { done: () => boolean } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { done: () => done };
}

/** The lines of `log` that match `pattern` (which must be /m and not /g). */
function linesMatching(log: string, pattern: RegExp): string[] {
  return log.split("\n").filter((line) => pattern.test(line));
}

describe("one gateway, several apps from a --config file", () => {
  let gateway: Gateway;

  before(async () => {
    const port = await freePort();
    const file = path.join(own.dir, "serve.toml");
    const grace = { "stop-grace": "1s" };
    await fs.writeFile(
      file,
      serveToml(port, {
        hello: { image: "hello:1", path: "/hello", ...grace },
        one: { image: "single:1", path: "/one", concurrency: 1, "max-instances": 1, "queue-limit": 1, ...grace },
        many: { image: "hello:1", path: "/many", concurrency: 1, "max-instances": 3, ...grace },
        crashy: { image: "hello:1", path: "/crashy", ...grace },
        stuck: { image: "never-ready:1", path: "/stuck", "start-timeout": "2s", "stop-grace": "0s" },
        wsone: { image: "hello:1", path: "/wsone", concurrency: 1, "max-instances": 1, ...grace },
      }),
    );
    gateway = await Gateway.start(["--config", file], { home: own.home, port });
  });

  after(() => gateway?.stop());

  test("a cold app's first request starts it and gets its answer, with X-Forwarded-* set by the gateway, counted and logged", async () => {
    const mark = gateway.log().length;
    const answer = await gateway.get("/hello/echo", { headers: { "x-forwarded-for": "203.0.113.9", "x-forwarded-host": "spoofed.example", "x-forwarded-proto": "https" } });
    expectStatus(answer, 200, gateway);
    const echo = JSON.parse(answer.text) as { app: string; path: string; headers: Record<string, string> };
    assert.equal(echo.app, "hello");
    assert.equal(echo.path, "/hello/echo");
    const headers = Object.fromEntries(Object.entries(echo.headers).map(([name, value]) => [name.toLowerCase(), value]));
    // The client's own X-Forwarded-* are not passed on as if a proxy had set them: the gateway sets them from the connection.
    assert.equal(headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(headers["x-forwarded-proto"], "http");
    assert.equal(headers["x-forwarded-host"], `127.0.0.1:${gateway.port}`);
    assert.doesNotMatch(answer.text, /203\.0\.113\.9|spoofed\.example/);

    const hello = await gateway.app("hello");
    assert.equal(hello.instances.length, 1);
    assert.equal(hello.instances[0]?.state, "ready");
    assert.equal(hello.coldStarts, 1);
    assert.equal(hello.requests, 1);
    const metrics = await gateway.get("/_pypakr/metrics");
    expectStatus(metrics, 200, gateway);
    assert.match(metrics.text, /^pypakr_serve_requests_total\{app="hello",code="2xx"\} 1$/m);
    assert.match(metrics.text, /^pypakr_serve_cold_starts_total\{app="hello"\} 1$/m);

    // One line per request, naming app, status and time; the app's own output, prefixed with its name.
    await gateway.waitForLog(/^pypakr serve: hello 200 GET \/hello\/echo \d+(\.\d+)? ms$/m, 10_000, mark);
    assert.equal(linesMatching(gateway.log().slice(mark), /^pypakr serve: hello /).length, 1, gateway.log());
    assert.match(gateway.log(), /^\[hello\] hello_app hello listening on 127\.0\.0\.1:\d+ pid \d+$/m);
  });

  test("a second gateway on the same machine, with an app of the same name, serves beside this one", async () => {
    assert.equal((await gateway.app("hello")).instances.length, 1, "the first gateway's hello is not running");
    const second = await Gateway.start(["--route", "/=hello:1", "--stop-grace", "1s"], { home: own.home });
    try {
      expectStatus(await second.get("/"), 200, second);
      expectStatus(await gateway.get("/hello/"), 200, gateway);
    } finally {
      assert.equal((await second.stop()).code, 0, second.log());
    }
    expectStatus(await gateway.get("/hello/"), 200, gateway);
  });

  test("concurrency 1 on one instance: two requests at once are served one after the other, the second waiting in the queue", async () => {
    expectStatus(await gateway.get("/one/"), 200, gateway);
    const began = performance.now();
    const both = Promise.all([gateway.get("/one/slow?ms=800"), gateway.get("/one/slow?ms=800")]);
    const requests = settled(both);
    let sawOneWaiting = false;
    while (!requests.done()) {
      const one = await gateway.app("one");
      if (one.queued === 1 && one.instances.length === 1 && one.instances[0]?.inFlight === 1) sawOneWaiting = true;
      await sleep(50);
    }
    const answers = await both;
    for (const answer of answers) {
      expectStatus(answer, 200, gateway);
      assert.match(answer.text, /^slept 800 ms pid \d+\n$/);
    }
    const [first, second] = [...answers].sort((a, b) => a.at - b.at) as [Answer, Answer];
    assert.equal(first.text, second.text, "both were served by the same instance");
    assert.ok(second.at - first.at >= 700, `the second finished ${Math.round(second.at - first.at)} ms after the first: they ran side by side`);
    assert.ok(second.at - began >= 1550);
    assert.ok(sawOneWaiting, "/_pypakr/status never showed one request in flight and one waiting");
    const one = await gateway.app("one");
    assert.equal(one.instances.length, 1);
    assert.equal(one.coldStarts, 1);
  });

  test("with queue-limit 1, a third request at once is turned away with 503 and Retry-After", async () => {
    const answers = await Promise.all([1, 2, 3].map(() => gateway.get("/one/slow?ms=800")));
    assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 200, 503], gateway.log());
    const rejected = answers.find((answer) => answer.status === 503) as Answer;
    assert.match(String(rejected.headers["retry-after"]), /^[1-9]\d*$/);
    assert.match(rejected.text, /queue-limit/);
    const one = await gateway.app("one");
    assert.equal(one.rejected, 1);
    assert.equal(one.instances.length, 1);
  });

  test("concurrency 1, max-instances 3: six requests at once scale the app to three instances, never more, all answered", async () => {
    const all = Promise.all(Array.from({ length: 6 }, () => gateway.get("/many/slow?ms=1000")));
    const requests = settled(all);
    let most = 0;
    while (!requests.done()) {
      most = Math.max(most, (await gateway.app("many")).instances.length);
      await sleep(25);
    }
    for (const answer of await all) expectStatus(answer, 200, gateway);
    assert.equal(most, 3, `at most ${most} instances were seen`);
    const many = await gateway.app("many");
    assert.equal(many.instances.length, 3);
    assert.equal(many.coldStarts, 3);
  });

  test("an instance that crashes gives 502 to its request, is reported, and the next request is served by a new instance", async () => {
    expectStatus(await gateway.get("/crashy/"), 200, gateway);
    const [crashing] = (await gateway.app("crashy")).instances;
    assert.ok(crashing !== undefined);
    const mark = gateway.log().length;
    expectStatus(await gateway.get("/crashy/crash"), 502, gateway);
    await gateway.waitForLog(new RegExp(`^pypakr serve: app crashy: instance ${crashing.id} ended unexpectedly \\(exit code 3\\)$`, "m"), 10_000, mark);
    assert.match(gateway.log().slice(mark), /^\[crashy\] crashing on purpose$/m);
    expectStatus(await gateway.get("/crashy/"), 200, gateway);
    const crashy = await gateway.app("crashy");
    assert.equal(crashy.crashes, 1);
    assert.equal(crashy.coldStarts, 2);
    assert.equal(crashy.instances.length, 1);
    assert.notEqual(crashy.instances[0]?.id, crashing.id);
  });

  test("an app that never listens gets 503 after its start timeout (2 s), and its last output lines go to the gateway's log", async () => {
    const mark = gateway.log().length;
    const began = performance.now();
    const answer = await gateway.get("/stuck/");
    const took = performance.now() - began;
    expectStatus(answer, 503, gateway);
    assert.ok(took >= 1900 && took < 5000, `the 503 came after ${Math.round(took)} ms`);
    await gateway.waitForLog(/^pypakr serve: app stuck could not start: .*its last output lines:\n {2}\[stuck\] never-ready: not listening, on purpose$/m, 10_000, mark);
    await until("the never-ready instance is gone", 5000, async () => ((await gateway.app("stuck")).instances.length === 0 ? true : undefined));
  });

  test("request and response bodies stream through: 3 MB posted with Content-Length, and chunked, come back identical", async () => {
    const body = randomBytes(3_000_000);
    for (const chunked of [false, true]) {
      const answer = await gateway.get("/hello/echo", { method: "POST", body, chunked, headers: { "content-type": "application/octet-stream" } });
      expectStatus(answer, 200, gateway);
      assert.equal(answer.body.length, body.length, chunked ? "chunked" : "content-length");
      assert.ok(answer.body.equals(body), `the ${chunked ? "chunked" : "content-length"} body came back changed`);
    }
  });

  test("a WebSocket upgrade passes through: 101 from the app, then raw bytes both ways", async () => {
    const { response, socket, head } = await new Promise<{ response: http.IncomingMessage; socket: Duplex; head: Buffer }>((resolve, reject) => {
      const request = http.request(`${gateway.url}/hello/ws`, {
        agent: false,
        timeout: 10_000,
        headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": randomBytes(16).toString("base64") },
      });
      request.on("upgrade", (upgraded: http.IncomingMessage, upgradedSocket: Duplex, upgradedHead: Buffer) => resolve({ response: upgraded, socket: upgradedSocket, head: upgradedHead }));
      request.on("response", (plain: http.IncomingMessage) => reject(new Error(`no upgrade: answered ${plain.statusCode}\n${gateway.log()}`)));
      request.on("timeout", () => request.destroy(new Error("no answer to the upgrade within 10 s")));
      request.on("error", reject);
      request.end();
    });
    try {
      assert.equal(response.statusCode, 101);
      assert.equal(response.headers.upgrade, "websocket");
      let received = head.toString("latin1");
      socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
      for (const message of ["ping 1\n", "\u00ff\u0000binary\r\n"]) {
        socket.write(Buffer.from(message, "latin1"));
        await until(`the echo of ${JSON.stringify(message)}`, 5000, () => (received.endsWith(message) ? true : undefined), 10);
      }
      assert.equal(received, "ping 1\n\u00ff\u0000binary\r\n");
    } finally {
      socket.destroy();
    }
    await gateway.waitForLog(/^pypakr serve: hello 101 GET \/hello\/ws \d+(\.\d+)? ms \(WebSocket closed\)$/m, 10_000);
  });

  test("a client that leaves during an upgrade's cold start (an app that answers without upgrading) leaves the gateway serving and the slot free", async () => {
    // Most apps answer an upgrade they do not support with a plain answer, which the gateway relays to a client long gone.
    const request = http.request(`${gateway.url}/wsone/`, { agent: false, headers: { connection: "Upgrade", upgrade: "websocket" } });
    request.on("error", () => undefined);
    request.on("upgrade", (_response: http.IncomingMessage, socket: Duplex) => socket.destroy());
    request.end();
    await sleep(30);
    request.destroy();
    await until("wsone's instance ready with no request in flight", 10_000, async () => {
      const [instance, ...more] = (await gateway.app("wsone")).instances;
      return instance?.state === "ready" && instance.inFlight === 0 && more.length === 0 ? true : undefined;
    });
    expectStatus(await gateway.get("/wsone/"), 200, gateway);
  });
});

describe("--route with --idle-timeout 1s: an idle app scales to zero, and the next request starts it again", () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await Gateway.start(["--route", "/=hello:1", "--idle-timeout", "1s", "--stop-grace", "1s"], { home: own.home });
  });
  after(() => gateway?.stop());

  test("after 1 s idle no instance and no process of the app is left; the next request cold-starts it", async () => {
    const first = await gateway.get("/");
    expectStatus(first, 200, gateway);
    assert.match(first.text, /^hello from hello pid \d+\n$/);
    // The app's processes on the host: below the gateway, and not root (the gateway runs each app as a uid of its own).
    const processes = await descendants(gateway.pid);
    assert.ok(processes.length > 0, "no sandbox below the gateway");
    const uids = new Set<number>();
    for (const pid of processes) {
      const info = await processInfo(pid);
      if (info !== null && info.uids[0] !== 0) uids.add(info.uids[0] ?? 0);
    }
    if (process.getuid?.() === 0) assert.equal(uids.size, 1, `app uids ${[...uids].join(", ")}`);
    // What the check below looks for is there now (so finding none later means gone).
    for (const uid of uids) assert.ok((await processesOfUid(uid, own.home)).length > 0, `no process of uid ${uid} runs in the app's container`);

    await until("the idle instance stopped (status: 0 instances)", 4000, async () => ((await gateway.app("hello")).instances.length === 0 ? true : undefined));
    assert.ok(performance.now() - first.at < 4000);
    await until("no process below the gateway", 3000, async () => ((await descendants(gateway.pid)).length === 0 ? true : undefined));
    assert.deepEqual(processes.filter(isRunning), [], "the stopped instance's processes are still running");
    for (const uid of uids) assert.deepEqual(await processesOfUid(uid, own.home), [], `processes of the app's uid ${uid} are left in its container`);
    assert.match(gateway.log(), /^\[hello\] draining$/m);

    expectStatus(await gateway.get("/"), 200, gateway);
    const hello = await gateway.app("hello");
    assert.equal(hello.coldStarts, 2);
    assert.equal(hello.instances.length, 1);
  });
});

describe("--max-body 1MiB, then SIGTERM: the gateway drains", () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await Gateway.start(["--route", "/=hello:1", "--max-body", "1MiB", "--stop-grace", "1s", "--drain-timeout", "10s"], { home: own.home });
  });
  after(() => gateway?.stop());

  test("a body over --max-body gets 413, and no instance starts for it", async () => {
    const answer = await gateway.get("/echo", { method: "POST", body: Buffer.alloc(1024 * 1024 + 1) });
    expectStatus(answer, 413, gateway);
    const hello = await gateway.app("hello");
    assert.equal(hello.coldStarts, 0);
    assert.equal(hello.instances.length, 0);
  });

  test("a chunked body that goes over --max-body is cut off (413, or the answer broken off), and the gateway serves on", async () => {
    // The app echoes as the body arrives, so its answer may have begun when the limit is crossed: then it is broken off.
    const outcome = await gateway.get("/echo", { body: Buffer.alloc(2 * 1024 * 1024, 1), chunked: true }).catch((error: Error) => error);
    assert.ok(outcome instanceof Error || outcome.status === 413, `a body over the limit got ${outcome instanceof Error ? outcome.message : `${outcome.status} with ${outcome.body.length} bytes`}`);
    expectStatus(await gateway.get("/"), 200, gateway);
    assert.match(gateway.log(), /^pypakr serve: hello \d+ POST \/echo /m);
  });

  test("SIGTERM: a request in flight still gets its answer, new connections are refused, the app drains, the gateway exits 0 leaving no sandbox", async () => {
    expectStatus(await gateway.get("/"), 200, gateway);
    const sandboxes = await descendants(gateway.pid);
    assert.ok(sandboxes.length > 0, "no sandbox below the gateway");
    const mark = gateway.log().length;
    const slow = gateway.get("/slow?ms=1500");
    settled(slow);
    await sleep(200);
    gateway.signal("SIGTERM");
    const refusedAt = await until("new connections refused", 3000, async () => ((await accepts(gateway.port)) ? undefined : performance.now()), 20);
    const answer = await slow;
    expectStatus(answer, 200, gateway);
    assert.equal(answer.text, "slept 1500 ms\n");
    assert.ok(refusedAt < answer.at, "new connections were still accepted when the request in flight was answered");
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([gateway.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 15_000)))]);
    clearTimeout(timer);
    assert.deepEqual(exit, { code: 0, signal: null }, gateway.log());
    const log = gateway.log().slice(mark);
    assert.match(log, /^pypakr serve: hello 200 GET \/slow \d+(\.\d+)? ms$/m);
    assert.match(log, /^\[hello\] draining$/m);
    assert.deepEqual(sandboxes.filter(isRunning), [], "sandbox processes outlived the gateway");
  });
});

describe("pypakr serve refuses to start without its image or its address, and listens on nothing", () => {
  test("a route to an image that is neither stored nor a file: non-zero exit naming it", async () => {
    const port = await freePort();
    const result = await pypakr(["serve", "--listen", `127.0.0.1:${port}`, "--route", "/x=nosuch:1"], { home: own.home, timeoutMs: 60_000 });
    expectCleanFailure(result, /nosuch:1/);
    assert.equal(await accepts(port), false);
  });

  test("a config naming an image file that is not there: non-zero exit naming the file", async () => {
    const port = await freePort();
    const file = path.join(own.dir, "missing-image.toml");
    const missing = path.join(own.dir, "missing.tar");
    await fs.writeFile(file, `listen = "127.0.0.1:${port}"\n\n[apps.gone]\nimage = "${missing}"\npath = "/"\n`);
    const result = await pypakr(["serve", "--config", file], { home: own.home, timeoutMs: 60_000 });
    expectCleanFailure(result, new RegExp(missing.replace(/[/.]/g, "\\$&")));
    assert.equal(await accepts(port), false);
  });

  test("an address another program listens on: non-zero exit naming it, with a hint", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const result = await pypakr(["serve", "--listen", `127.0.0.1:${port}`, "--route", "/=hello:1"], { home: own.home, timeoutMs: 60_000 });
      expectCleanFailure(result, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
      assert.match(result.stderr, /--listen/);
    } finally {
      taken.close();
    }
  });
});
