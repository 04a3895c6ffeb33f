/**
 * The sandbox with real bubblewrap, a real venv and real HTTP: an app from a
 * stranger answers through its endpoint and cannot read what is not bound,
 * write its container, reach the host's network, fork or allocate without
 * bound, or outlive stop(); and another app beside it keeps answering.
 * (On CI these run as root: the app is dropped to its own uid.)
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { detectSandbox, startSandboxed, type SandboxedProcess, type SandboxEndpoint, type SandboxSpec, type SandboxSupport } from "../../src/sandbox/index.js";
import { makeTempDir, REPO, removeDir } from "../support/helpers.js";

const bwrapMissing = spawnSync("sh", ["-c", "command -v bwrap"]).status !== 0;
const asRoot = process.getuid?.() === 0;
const WAIT_MS = 10_000;

interface Running {
  sandbox: SandboxedProcess;
  output: () => string;
}

let root = "";
let venv = "";
let prefix = "";
let appDir = "";
let support: SandboxSupport;
const running: SandboxedProcess[] = [];
const ids: string[] = [];

function get(endpoint: SandboxEndpoint, pathname: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const target = "socketPath" in endpoint ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };
    const request = http.get({ ...target, path: pathname, agent: false, timeout: WAIT_MS }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve(body));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`no answer to ${pathname} within ${WAIT_MS} ms`)));
    request.on("error", reject);
  });
}

async function waitReady(endpoint: SandboxEndpoint, sandbox: SandboxedProcess | null): Promise<void> {
  let gone = false;
  void sandbox?.exited.then(() => (gone = true));
  const end = Date.now() + WAIT_MS;
  for (;;) {
    // socat accepts before the app listens: only an answer from the app proves it is up.
    const answer = await get(endpoint, "/").catch(() => null);
    if (answer === "hello") return;
    if (gone) throw new Error("the sandboxed app exited before it answered");
    if (Date.now() > end) throw new Error("the sandboxed app did not answer in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function start(name: string, spec: Partial<SandboxSpec> = {}): Promise<Running> {
  const runtimeDir = path.join(root, "run", name);
  await fs.mkdir(runtimeDir, { recursive: true });
  const id = `t-${name}-${process.pid}`;
  ids.push(id);
  const sandbox = await startSandboxed(support, {
    id,
    readOnly: [prefix, venv, appDir],
    argv: [path.join(venv, "bin", "python"), path.join(appDir, "probe_app.py")],
    cwd: "/tmp",
    env: { PATH: `${path.join(venv, "bin")}:/usr/bin`, PYTHONDONTWRITEBYTECODE: "1" },
    network: "none",
    runtimeDir,
    uid: 60000 + running.length,
    ...spec,
  });
  running.push(sandbox);
  let output = "";
  for (const stream of [sandbox.stdout, sandbox.stderr]) stream.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  await waitReady(sandbox.endpoint, sandbox);
  return { sandbox, output: () => output };
}

/** Every process below `pid` on the host. */
async function descendants(pid: number): Promise<number[]> {
  const found: number[] = [];
  const text = await fs.readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  for (const child of text.trim().split(/\s+/).filter(Boolean).map(Number)) found.push(child, ...(await descendants(child)));
  return found;
}

/** Whether `pid` is a live process (not gone, not a zombie waiting for its parent). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Host processes still running our test app. */
async function appProcessesLeft(): Promise<number[]> {
  const left: number[] = [];
  for (const name of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await fs.readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(appDir)) left.push(Number(name));
  }
  return left;
}

/** Our own cgroup's directories that exist: for the memory and pids controllers (v1), the unified hierarchy (v2), or both. */
async function ownCgroupDirs(only?: "cgroup-v1" | "cgroup-v2"): Promise<string[]> {
  const dirs: string[] = [];
  for (const line of (await fs.readFile("/proc/self/cgroup", "utf8")).split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match === null) continue;
    const controller = match[1] ?? "";
    if (!["memory", "pids", ""].includes(controller)) continue;
    if ((only === "cgroup-v1" && controller === "") || (only === "cgroup-v2" && controller !== "")) continue;
    for (const mount of controller === "" ? ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] : [`/sys/fs/cgroup/${controller}`]) {
      const dir = path.join(mount, match[2] ?? "/");
      if ((await fs.stat(path.join(dir, "cgroup.procs")).catch(() => null)) !== null) dirs.push(dir);
    }
  }
  return dirs;
}

/** Our cgroups' directories (v1: one per controller; v2: the one) that still hold an instance's cgroup. */
async function cgroupsLeft(): Promise<string[]> {
  const left: string[] = [];
  for (const dir of await ownCgroupDirs()) {
    const names = await fs.readdir(dir).catch(() => []);
    left.push(...names.filter((entry) => ids.some((id) => entry === `pypakr-${process.pid}-${id}`)).map((entry) => path.join(dir, entry)));
  }
  return left;
}

describe("sandbox", { skip: bwrapMissing ? "bubblewrap (bwrap) is not installed: apt-get install bubblewrap" : false }, () => {
  before(async () => {
    root = await makeTempDir("pypakr-sandbox-");
    venv = path.join(root, "venv");
    const made = spawnSync("python3", ["-m", "venv", "--without-pip", venv], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    // The interpreter's prefix (pyvenv.cfg's home, one up), which the venv needs at its own path.
    prefix = path.dirname(path.dirname(await fs.realpath(path.join(venv, "bin", "python"))));
    appDir = path.join(root, "app");
    await fs.mkdir(appDir);
    await fs.copyFile(path.join(REPO, "test", "fixtures", "sandbox", "probe_app.py"), path.join(appDir, "probe_app.py"));
    await fs.writeFile(path.join(root, "secret.txt"), "not for the app");
    support = await detectSandbox();
  });

  after(async () => {
    await Promise.all(running.map((sandbox) => sandbox.stop(0)));
    await removeDir(root);
  });

  test("an app answers through its Unix socket, running as its own unprivileged uid", async () => {
    const { sandbox } = await start("hello", { uid: 60100 });
    assert.ok("socketPath" in sandbox.endpoint);
    // Nor can it make a user namespace of its own to be root in (the kernel answers ENOSPC: none allowed).
    assert.match(await get(sandbox.endpoint, "/unshare"), /^ERR (ENOSPC|EPERM)$/);
    if (!asRoot) return;
    assert.equal(await get(sandbox.endpoint, "/uid"), "60100");
    // Seen from the host too: no process of the sandbox that runs the app is root.
    const apps: number[] = [];
    for (const pid of await descendants(sandbox.pid)) {
      // bwrap's own command line names the app too: the app is the process whose program is the venv's python.
      const program = (await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0")[0];
      if (program !== path.join(venv, "bin", "python")) continue;
      apps.push(pid);
      const uids = /^Uid:\s+(.*)$/m.exec(await fs.readFile(`/proc/${pid}/status`, "utf8"))?.[1]?.split(/\s+/);
      assert.deepEqual(uids, ["60100", "60100", "60100", "60100"], `host uids of app process ${pid}`);
    }
    assert.ok(apps.length > 0, "the app's process was not found below the sandbox");
  });

  test("the app sees none of the host's files it was not given, and cannot write its venv", async () => {
    const { sandbox } = await start("files");
    const at = (what: string, file: string) => get(sandbox.endpoint, `/${what}?path=${encodeURIComponent(file)}`);
    // What the app must not see, present on the host (so ENOENT inside means hidden, not absent).
    const secret = path.join(root, "secret.txt");
    assert.equal(await at("read", secret), "ERR ENOENT");
    await fs.access(secret);
    assert.equal(await at("read", "/etc/shadow"), "ERR ENOENT");
    assert.equal(await at("list", "/work"), "ERR ENOENT");
    assert.equal(await at("list", "/home"), "ERR ENOENT");
    assert.equal(await at("read", "/root/.pypakr/config"), "ERR ENOENT");
    // The interpreter's own path is bound under /root, and nothing else of it.
    if (prefix.startsWith("/root/")) assert.deepEqual(JSON.parse(await at("list", "/root")), [prefix.split("/")[2]]);
    assert.deepEqual(JSON.parse(await at("list", root)), ["app", "venv"]);
    assert.equal(await at("write", path.join(venv, "planted.py")), "ERR EROFS");
    assert.equal(await at("write", path.join(appDir, "probe_app.py")), "ERR EROFS");
    assert.equal(await at("write", "/usr/planted"), "ERR EROFS");
    assert.equal(await at("write", "/tmp/scratch"), "wrote");
  });

  test("without outbound network the app cannot reach a host loopback listener; with it, it can", async () => {
    const listener = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as net.AddressInfo).port;
    try {
      const closed = await start("closed");
      assert.equal(await get(closed.sandbox.endpoint, `/connect?port=${port}`), "ERR ECONNREFUSED");
      // The same app with the network shared does connect: the refusal above is the sandbox's doing.
      const open = await start("open", { network: "host" });
      assert.ok("port" in open.sandbox.endpoint && open.sandbox.endpoint.host === "127.0.0.1");
      assert.equal(await get(open.sandbox.endpoint, `/connect?port=${port}`), "connected");
    } finally {
      listener.close();
    }
  });

  test("a fork bomb is stopped by the process limit while another app keeps answering", async () => {
    const bystander = await start("bystander");
    const bomb = await start("forkbomb", { maxProcesses: 40 });
    assert.match(await get(bomb.sandbox.endpoint, "/fork"), /^refused after \d+: EAGAIN$/);
    assert.equal(await get(bystander.sandbox.endpoint, "/"), "hello");
    const exit = await bomb.sandbox.stop(0);
    if (support.limits.startsWith("cgroup")) assert.equal(exit.limitHit, "processes");
    assert.equal(await get(bystander.sandbox.endpoint, "/"), "hello");
  });

  test("an allocation without bound is killed by the memory limit while another app keeps answering", async () => {
    const bystander = await start("bystander2");
    const hog = await start("memhog", { memoryBytes: 96 * 2 ** 20 });
    const answer = await get(hog.sandbox.endpoint, "/alloc").catch((error: Error) => `failed: ${error.message}`);
    assert.doesNotMatch(answer, /^allocated/);
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([hog.sandbox.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), WAIT_MS)))]);
    clearTimeout(timer);
    if (support.limits.startsWith("cgroup")) {
      assert.ok(exit !== null, "the memory hog's sandbox did not end");
      assert.equal(exit.limitHit, "memory");
    } else {
      assert.equal(answer, "ERR MemoryError");
    }
    assert.equal(await get(bystander.sandbox.endpoint, "/"), "hello");
  });

  test("stop() sends SIGTERM to the app itself, which drains and exits", async () => {
    const app = await start("drain", { env: { TERM_MODE: "handle", PATH: "/usr/bin" } });
    const begun = Date.now();
    const exit = await app.sandbox.stop(5000);
    assert.ok(Date.now() - begun < 4000, "stop waited for the grace period although the app had exited");
    assert.match(app.output(), /got SIGTERM, draining/);
    assert.equal(exit.code, 0);
  });

  test("stop() SIGKILLs an app that ignores SIGTERM once the grace period is over", async () => {
    const app = await start("stubborn", { env: { TERM_MODE: "ignore", PATH: "/usr/bin" } });
    const begun = Date.now();
    const exit = await app.sandbox.stop(500);
    const took = Date.now() - begun;
    assert.ok(took >= 450 && took < 5000, `stop took ${took} ms`);
    assert.notEqual(exit.code, 0);
  });

  test("a runtime directory that is a symlink is refused before anything is chowned or started", async () => {
    const target = path.join(root, "elsewhere");
    await fs.mkdir(target);
    const link = path.join(root, "run-link");
    await fs.symlink(target, link);
    await assert.rejects(
      startSandboxed(support, { id: "t-link", readOnly: [], argv: ["/bin/true"], cwd: "/tmp", env: {}, network: "none", runtimeDir: link, uid: 60300 }),
      (error: Error & { code?: string }) => error.code === "bad-config" && /not a directory/.test(error.message),
    );
    assert.equal((await fs.stat(target)).uid, process.getuid?.());
  });

  test("when the gateway dies (SIGKILL, no clean-up), its sandboxes die with it", async () => {
    const runtimeDir = path.join(root, "run", "orphan");
    await fs.mkdir(runtimeDir, { recursive: true });
    const face = path.join(REPO, "dist", "src", "sandbox", "index.js");
    const spec: SandboxSpec = {
      id: `t-orphan-${process.pid}`,
      readOnly: [prefix, venv, appDir],
      argv: [path.join(venv, "bin", "python"), path.join(appDir, "probe_app.py")],
      cwd: "/tmp",
      env: { TERM_MODE: "ignore" },
      network: "none",
      runtimeDir,
      uid: 60200,
    };
    const script = `const { startSandboxed } = await import(${JSON.stringify(face)});
      const sandbox = await startSandboxed(${JSON.stringify(support)}, ${JSON.stringify(spec)});
      sandbox.stdout.on("data", () => console.log("up"));
      setInterval(() => undefined, 1000);`;
    const gateway = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the gateway's sandbox did not start")), WAIT_MS);
        gateway.stdout.once("data", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await waitReady({ socketPath: path.join(runtimeDir, "app.sock") }, null);
      // Everything the dying gateway started: bwrap, the sandbox's PID 1, socat, the app (which ignores SIGTERM).
      const orphans = await descendants(gateway.pid ?? 0);
      assert.ok(orphans.length >= 3, `the gateway's sandbox has ${orphans.length} processes`);
      const alive = async () => (await appProcessesLeft()).filter((pid) => orphans.includes(pid));
      assert.ok((await alive()).length > 0, "the orphan's app is not running");
      gateway.kill("SIGKILL");
      const end = Date.now() + WAIT_MS;
      while ((await alive()).length > 0 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(await alive(), []);
      // Dead means gone or a zombie (the orphans' new parent, the machine's init, reaps them in its own time).
      assert.deepEqual(orphans.filter(isRunning), []);
    } finally {
      gateway.kill("SIGKILL");
    }
  });

  test("an empty cgroup left by a gateway that died is removed when a gateway starts; a live gateway's stays", async (t) => {
    const support = await detectSandbox();
    if (!support.limits.startsWith("cgroup")) return t.skip(`limits here are ${support.limits}, not cgroups`);
    const parents = await ownCgroupDirs(support.limits === "cgroup-v1" ? "cgroup-v1" : "cgroup-v2");
    // A pid that runs no process (pid_max is at most 2^22) and one that does (ours, standing for a live gateway).
    const dead = parents.map((dir) => path.join(dir, "pypakr-4194305-left-behind"));
    const live = parents.map((dir) => path.join(dir, `pypakr-${process.pid}-still-used`));
    for (const dir of [...dead, ...live]) await fs.mkdir(dir);
    try {
      await detectSandbox();
      for (const dir of dead) await assert.rejects(fs.stat(dir), /ENOENT/);
      for (const dir of live) await fs.stat(dir);
    } finally {
      for (const dir of [...dead, ...live]) await fs.rmdir(dir).catch(() => undefined);
    }
  });

  test("when every instance has stopped, no process and no cgroup of theirs is left", async () => {
    await Promise.all(running.map((sandbox) => sandbox.stop(0)));
    assert.deepEqual(await appProcessesLeft(), []);
    assert.deepEqual(await cgroupsLeft(), []);
    for (const sandbox of running) assert.throws(() => process.kill(sandbox.pid, 0), /ESRCH/);
  });
});
