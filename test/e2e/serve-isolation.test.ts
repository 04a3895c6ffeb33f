// test-stream: own-home
/**
 * Isolation through `pypakr serve`: hostile apps (test/support/serve-apps.ts,
 * one image whose ATTACK variable picks the attack) routed by one gateway
 * beside a plain app, each attack made by a request as a stranger's app
 * would. What they try is refused or stopped, and the gateway and the other
 * app keep serving. serve-apps.test.ts shows each attack getting through
 * without a sandbox, so these can fail.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, pypakr, usePrivateHome } from "../support/helpers.js";
import { descendants, Gateway, processInfo, serveToml, stopGateways, type Answer } from "../support/serve-gateway.js";
import { appImage, helloApp, hostileApp } from "../support/serve-apps.js";

// Declared first, so it runs before the private home (holding the gateway's containers) is removed.
after(stopGateways);
const own = usePrivateHome({
  prefix: "pypakr-serve-isolation-",
  setup: async () => {
    const maker = { dir: own.dir, pypakr: (args: string[]) => pypakr(args, { home: own.home }) };
    await Promise.all([hostileApp(), helloApp()].map((app) => appImage(app, maker)));
  },
});

function expectStatus(answer: Answer, status: number, gateway: Gateway): void {
  assert.equal(answer.status, status, `answered ${answer.status}: ${answer.text.slice(0, 500)}\n--- gateway log\n${gateway.log()}`);
}

/** The attack's report (HOSTILE_PY's JSON). */
function report<T>(answer: Answer, gateway: Gateway): T {
  expectStatus(answer, 200, gateway);
  return JSON.parse(answer.text) as T;
}

type Results = { results: Record<string, string> };

describe("hostile apps behind one gateway, beside a plain app", () => {
  let gateway: Gateway;
  /** A listener of the test's own on the host's loopback, which apps without network must not reach. */
  const listener = net.createServer((socket) => socket.destroy());
  let reached = 0;
  listener.on("connection", () => (reached += 1));

  const bystanderAnswers = async () => {
    const answer = await gateway.get("/bystander/");
    expectStatus(answer, 200, gateway);
    assert.match(answer.text, /^hello from hello pid \d+\n$/);
  };

  before(async () => {
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const target = `127.0.0.1:${(listener.address() as net.AddressInfo).port}`;
    const home = own.home;
    const secrets = [home, path.join(home, "store"), path.join(home, "bases"), path.join(home, "containers"), own.dir, "/root/.pypakr"].join(":");
    const port = await freePort();
    const file = path.join(own.dir, "serve.toml");
    const hostile = (attack: string, more: Record<string, string | number | boolean> = {}, env: Record<string, string> = {}) => ({ image: "hostile:1", "stop-grace": "1s", env: { ATTACK: attack, ...env }, ...more });
    await fs.writeFile(
      file,
      serveToml(port, {
        reader: { path: "/reader", ...hostile("read-outside", {}, { SECRET_PATHS: secrets }) },
        writer: { path: "/writer", ...hostile("write-container") },
        closed: { path: "/closed", ...hostile("connect-out", {}, { TARGETS: target }) },
        open: { path: "/open", ...hostile("connect-out", { network: true }, { TARGETS: target }) },
        forker: { path: "/forker", ...hostile("fork-bomb", { "max-processes": 64 }) },
        hog: { path: "/hog", ...hostile("allocate", { memory: "128MiB" }) },
        bystander: { image: "hello:1", path: "/bystander", "stop-grace": "1s" },
      }),
    );
    gateway = await Gateway.start(["--config", file], { home: own.home, port });
    // The plain app first, so the store holds another app's container for the reader to look for.
    await bystanderAnswers();
  });

  after(async () => {
    await gateway?.stop();
    listener.close();
  });

  test("an app cannot read outside what it was given: no home directories, /work, /etc/shadow, pypakr's store or another app's container", async () => {
    const { results } = report<Results>(await gateway.get("/reader/"), gateway);
    const home = own.home;
    for (const hidden of ["/work", "/home", "/etc/shadow", "/root/.pypakr", path.join(home, "store"), path.join(home, "bases")]) {
      assert.equal(results[hidden], "ENOENT", `${hidden}: ${results[hidden]}`);
    }
    // Present on the host (so ENOENT inside means hidden, not absent), where the app must not see them.
    for (const present of ["/work", "/etc/shadow", path.join(home, "store"), path.join(home, "bases")]) assert.ok(existsSync(present), present);
    // Of the home and the test's dir, only the path down to the app's own container is there.
    assert.equal(results[home], "listed 1 entries");
    assert.equal(results[own.dir], "listed 1 entries");
    const containers = readdirSync(path.join(home, "containers"));
    assert.ok(containers.length >= 2, `the host has the containers ${containers.join(", ")}`);
    assert.equal(results[path.join(home, "containers")], "listed 1 entries");
  });

  test("an app cannot write into its container (read-only), only into its private /tmp", async () => {
    const { prefix, results } = report<Results & { prefix: string }>(await gateway.get("/writer/"), gateway);
    const refused = Object.entries(results).filter(([target]) => target !== "/tmp/allowed");
    // sys.prefix/pwned, site-packages/pwned.py, and the working directory (the container itself, in a gateway).
    assert.ok(refused.length >= 2 && refused.some(([target]) => target.endsWith("/site-packages/pwned.py")), JSON.stringify(results));
    for (const [target, result] of refused) {
      assert.equal(result, "EROFS", `${target}: ${result}`);
      assert.equal(existsSync(target), false, `${target} was written on the host`);
    }
    assert.ok(prefix.startsWith(path.join(own.home, "containers")), prefix);
    assert.equal(results["/tmp/allowed"], "wrote");
  });

  test("without network an app cannot connect to a host loopback listener; an app allowed the network can", async () => {
    const closed = report<Results>(await gateway.get("/closed/"), gateway);
    assert.deepEqual(Object.values(closed.results), ["ECONNREFUSED"], JSON.stringify(closed.results));
    assert.equal(reached, 0);
    const open = report<Results>(await gateway.get("/open/"), gateway);
    assert.deepEqual(Object.values(open.results), ["connected"], JSON.stringify(open.results));
    assert.equal(reached, 1);
  });

  test("a fork bomb is stopped by --max-processes 64 while the other app keeps answering", async () => {
    const bombing = gateway.get("/forker/");
    const meanwhile = Promise.all([bystanderAnswers(), bystanderAnswers()]);
    const result = report<{ forked: number; error: string | null }>(await bombing, gateway);
    await meanwhile;
    assert.equal(result.error, "EAGAIN", JSON.stringify(result));
    assert.ok(result.forked < 64, `forked ${result.forked}`);
    await bystanderAnswers();
    // The instance itself lives on: the limit refused its forks, it did not kill it.
    assert.equal((await gateway.app("forker")).crashes, 0);
  });

  test("an allocation without bound is killed at --memory 128MiB (502, logged as the memory limit) while the gateway and the other app keep serving", async () => {
    const mark = gateway.log().length;
    const answer = await gateway.get("/hog/");
    if (/warning: [^\n]*memory/i.test(gateway.log())) {
      // No cgroup here: RLIMIT_AS makes the allocation fail inside instead.
      assert.equal(report<{ error: string | null }>(answer, gateway).error, "MemoryError");
    } else {
      expectStatus(answer, 502, gateway);
      await gateway.waitForLog(/^pypakr serve: app hog: instance hog-\d+ ended unexpectedly \(.*: it hit its memory limit\)$/m, 10_000, mark);
      assert.equal((await gateway.app("hog")).crashes, 1);
    }
    await bystanderAnswers();
    expectStatus(await gateway.get("/_pypakr/status"), 200, gateway);
  });

  test("on the host, no app process runs as root, and each app has a uid of its own", { skip: process.getuid?.() !== 0 ? "the gateway is not root: its apps keep the user's uid" : false }, async () => {
    const apps: { pid: number; argv: string; uids: number[] }[] = [];
    for (const pid of await descendants(gateway.pid)) {
      const info = await processInfo(pid);
      // The apps' own processes: python hostile.py ATTACK, or python -m hello_app.
      if (info !== null && info.argv[0] === "python") apps.push({ pid, argv: info.argv.join(" "), uids: info.uids });
    }
    // One instance each of reader, writer, closed, open, forker and the bystander is running (the hog was killed).
    assert.equal(apps.length, 6, JSON.stringify(apps));
    for (const app of apps) assert.ok(app.uids.every((uid) => uid !== 0 && uid === app.uids[0]), `${app.argv} (pid ${app.pid}) runs with uids ${app.uids.join(" ")}`);
    assert.equal(new Set(apps.map((app) => app.uids[0])).size, apps.length, `two apps share a uid: ${JSON.stringify(apps)}`);
  });
});
