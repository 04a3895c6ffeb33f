/**
 * The hostile-input corpus (test/fixtures/hostile.ts) through the real CLI,
 * in a private home whose store already holds a good image. For every case:
 * the expected exit code and message (or the described safe success),
 * `hint:` on failure and never a stack trace, sentinels beside and above the
 * target untouched and nothing new outside the target, no target or hidden
 * staging sibling left after a failure, the store unchanged (file list,
 * sizes, index.json), and bounded memory and writes (sampled from /proc).
 *
 * Pull cases run against a small fake registry on 127.0.0.1 that
 * misbehaves as each case says.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { CASES, digestOf, writeCorpus, type ExpectSuccess, type HostileCase, type RegistryBehavior } from "../fixtures/hostile.js";
import { buildJokesImage, CLI, cliEnv, listTree, makeTempDir, privateHome, removeDir, type CliResult } from "../support/helpers.js";
import { imageParts } from "../support/image-files.js";

const SENTINEL = "sentinel: untouched\n";
/** Far above what any case needs; a bomb that got through would pass it. */
const MAX_WRITTEN_BYTES = 768 * 1024 * 1024;
const MAX_RSS_BYTES = 768 * 1024 * 1024;

let dir: string;
let home: string;
let corpus: string;
let registry: FakeRegistry;

// ---------------------------------------------------------------------------
// A registry that serves one case's files, misbehaving as told.

class FakeRegistry {
  private server = http.createServer((req, res) => void this.handle(req, res));
  private files = "";
  private behavior: RegistryBehavior = "honest";
  private manifestDigest = "";
  private sockets = new Set<Socket>();
  host = "";

  async start(): Promise<void> {
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  serve(files: string, behavior: RegistryBehavior): string {
    this.files = files;
    this.behavior = behavior;
    this.manifestDigest = digestOf(readFileSync(path.join(files, "manifest")));
    return this.manifestDigest;
  }

  private endless(res: http.ServerResponse, headers: http.OutgoingHttpHeaders): void {
    res.writeHead(200, headers);
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once("drain", pump);
    };
    res.on("close", () => res.removeAllListeners("drain"));
    pump();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/v2/") return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
    if (url.pathname === "/loop/a") return void res.writeHead(302, { location: "/loop/b" }).end();
    if (url.pathname === "/loop/b") return void res.writeHead(302, { location: "/loop/a" }).end();
    const manifest = /^\/v2\/.+\/manifests\/([^/]+)$/.exec(url.pathname);
    if (manifest) {
      let bytes = await fs.readFile(path.join(this.files, "manifest"));
      const headers = { "content-type": "application/vnd.oci.image.manifest.v1+json", "docker-content-digest": this.manifestDigest };
      if (this.behavior === "endless-manifest") return this.endless(res, { "content-type": headers["content-type"] });
      if (this.behavior === "huge-content-length-manifest") {
        res.writeHead(200, { ...headers, "content-length": "1000000000000" });
        res.write(bytes);
        setTimeout(() => res.destroy(), 50);
        return;
      }
      if (this.behavior === "wrong-manifest") bytes = Buffer.from(bytes.toString().replace('"schemaVersion":2', '"schemaVersion": 2'));
      return void res.writeHead(200, { ...headers, "content-length": bytes.length }).end(req.method === "HEAD" ? undefined : bytes);
    }
    const blob = /^\/v2\/.+\/blobs\/sha256:([0-9a-f]{64})$/.exec(url.pathname);
    if (blob) {
      const bytes = await fs.readFile(path.join(this.files, "blobs", blob[1] ?? "")).catch(() => null);
      if (!bytes) return void res.writeHead(404).end();
      const isLayer = !bytes.toString("latin1", 0, 1).startsWith("{");
      if (isLayer && this.behavior === "redirect-loop") return void res.writeHead(302, { location: "/loop/a" }).end();
      if (isLayer && this.behavior === "endless-blob") return this.endless(res, { "content-type": "application/octet-stream" });
      if (isLayer && this.behavior === "huge-content-length-blob") {
        res.writeHead(200, { "content-length": "1000000000000" });
        res.write(bytes.subarray(0, 10));
        setTimeout(() => res.destroy(), 50);
        return;
      }
      const body = isLayer && this.behavior === "wrong-blob" ? Buffer.alloc(bytes.length, 0x42) : bytes;
      return void res.writeHead(200, { "content-length": body.length }).end(req.method === "HEAD" ? undefined : body);
    }
    res.writeHead(404).end();
  }
}

// ---------------------------------------------------------------------------
// Running the CLI while watching what it costs.

interface Watched extends CliResult {
  /** Peak resident memory and bytes written, as last sampled from /proc. */
  peakRss: number;
  written: number;
  ms: number;
}

function procNumber(file: string, pattern: RegExp): number | null {
  try {
    const match = pattern.exec(readFileSync(file, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function runWatched(args: string[], timeoutMs = 60_000, env: Record<string, string> = {}): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(CLI, args, { cwd: dir, env: cliEnv({ home, env }), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let peakRss = 0;
    let written = 0;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const sample = () => {
      const rss = procNumber(`/proc/${child.pid}/status`, /VmHWM:\s+(\d+) kB/);
      const wchar = procNumber(`/proc/${child.pid}/io`, /wchar:\s+(\d+)/);
      if (rss !== null) peakRss = Math.max(peakRss, rss * 1024);
      if (wchar !== null) written = Math.max(written, wchar);
    };
    const sampler = setInterval(sample, 20);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("exit", sample);
    child.on("close", (code, signal) => {
      clearInterval(sampler);
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, peakRss, written, ms: Date.now() - started });
    });
  });
}

// ---------------------------------------------------------------------------
// What must not change.

/**
 * Every file in the store (size and path), plus index.json's text; tmp/
 * (checked empty separately), the lock and partial/ aside. partial/ is the
 * pull's resume cache: a failed pull keeps what it fetched there by design,
 * so it is checked apart (partialBlobsVerified).
 */
async function storeSnapshot(): Promise<string[]> {
  const store = path.join(home, "store");
  const out: string[] = [];
  for (const entry of await listTree(store)) {
    if (["tmp", "lock", "partial"].some((skip) => isUnder(entry, skip))) continue;
    const stat = await fs.lstat(path.join(store, entry));
    if (!stat.isDirectory()) out.push(`${entry} ${stat.size}`);
  }
  out.push(await fs.readFile(path.join(store, "index.json"), "utf8"));
  return out;
}

/** Files in store/partial/ that hash to their names' digests (only those a failed pull may leave: nothing unverified from a hostile registry). */
async function partialBlobs(): Promise<{ verified: string[]; other: string[] }> {
  const partial = path.join(home, "store", "partial");
  const verified: string[] = [];
  const other: string[] = [];
  for (const name of await fs.readdir(partial).catch(() => [] as string[])) {
    const file = path.join(partial, name);
    if (!(await fs.lstat(file)).isFile()) continue;
    const hex = createHash("sha256").update(await fs.readFile(file)).digest("hex");
    (hex === name ? verified : other).push(name);
  }
  return { verified, other };
}

interface Workspace {
  root: string;
  out: string;
  sentinels: string[];
  target: string | null;
}

async function workspace(hostile: HostileCase): Promise<Workspace> {
  const root = path.join(dir, "runs", hostile.name);
  const out = path.join(root, "out");
  await fs.mkdir(out, { recursive: true });
  const sentinels = [path.join(root, "sentinel"), path.join(out, "sentinel")];
  for (const file of sentinels) await fs.writeFile(file, SENTINEL);
  const target = hostile.command === "create-container" ? path.join(out, "container") : hostile.command === "create-image" ? path.join(out, "image.tar") : null;
  return { root, out, sentinels, target };
}

function argsFor(hostile: HostileCase, ws: Workspace): string[] {
  const files = path.join(corpus, hostile.name);
  switch (hostile.command) {
    case "create-container":
      return ["create-container", "-i", path.join(files, "image.tar"), "-c", ws.target ?? ""];
    case "load":
      return ["load", "-i", path.join(files, "image.tar")];
    case "create-image": {
      const source = ["source.tar", "source.tar.gz"].map((name) => path.join(files, name)).find((file) => readFileOrNull(file));
      return ["create-image", "-s", source ?? "", "-i", ws.target ?? ""];
    }
    case "pull": {
      const spec = hostile.registry;
      assert.ok(spec, "a pull case names its registry behavior");
      const digest = registry.serve(path.join(files, "registry"), spec.behavior);
      return ["pull", `${registry.host}/${spec.ref.replace("MANIFEST_DIGEST", digest)}`];
    }
  }
}

function readFileOrNull(file: string): boolean {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}

async function checkSuccess(expect: ExpectSuccess, hostile: HostileCase, ws: Workspace): Promise<void> {
  if (hostile.command === "create-image") {
    assert.ok((await fs.stat(ws.target ?? "")).isFile(), "the image was written");
    return;
  }
  if (hostile.command !== "create-container") return;
  const at = (relative: string) => path.join(ws.target ?? "", relative);
  for (const relative of expect.exists ?? []) await fs.lstat(at(relative));
  for (const relative of expect.absent ?? []) await assert.rejects(fs.lstat(at(relative)), `${relative} should be gone`);
  for (const [relative, text] of Object.entries(expect.content ?? {})) assert.equal(await fs.readFile(at(relative), "utf8"), text, relative);
  for (const [relative, bits] of Object.entries(expect.modeClear ?? {})) assert.equal((await fs.stat(at(relative))).mode & bits, 0, `${relative} keeps mode bits ${(bits & (await fs.stat(at(relative))).mode).toString(8)}`);
}

before(async () => {
  dir = await makeTempDir("pypakr-hostile-");
  home = await privateHome(dir);
  const good = await buildJokesImage(dir, { home });
  const python = (await imageParts(good)).config.pypakr.python as Parameters<typeof writeCorpus>[1]["python"];
  corpus = path.join(dir, "corpus");
  await writeCorpus(corpus, { python });
  registry = new FakeRegistry();
  await registry.start();
});

after(async () => {
  await registry?.stop();
  await removeDir(dir);
});

describe("hostile inputs: each gets its safe outcome through the real CLI", () => {
  test("the corpus has at least 40 cases, of every class, with unique names", () => {
    assert.ok(CASES.length >= 40, `${CASES.length} cases`);
    assert.equal(new Set(CASES.map((hostile) => hostile.name)).size, CASES.length);
    for (const kind of ["escape", "special-file", "whiteout", "names", "size", "blob-and-layout", "registry", "config-values"]) assert.ok(CASES.some((hostile) => hostile.class === kind), kind);
  });

  test("the generator writes cases.json describing every case", async () => {
    const listed = JSON.parse(await fs.readFile(path.join(corpus, "cases.json"), "utf8")) as { name: string; expect: unknown }[];
    assert.deepEqual(
      listed.map((entry) => entry.name),
      CASES.map((hostile) => hostile.name),
    );
  });

  for (const hostile of CASES) {
    test(`${hostile.class}: ${hostile.name} (${hostile.attacks})`, async (t) => {
      const ws = await workspace(hostile);
      const storeBefore = await storeSnapshot();
      const partialBefore = await partialBlobs();
      const outsideBefore = await outsideTarget(ws);
      const result = await runWatched(argsFor(hostile, ws), 60_000, hostile.env);
      const output = `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

      assert.equal(result.signal, null, `killed by ${result.signal}: ${output}`);
      assert.doesNotMatch(result.stderr, /\n\s+at \S+/, `a stack trace: ${output}`);
      assert.doesNotMatch(result.stderr, /internal error/, output);
      assert.equal(result.code, hostile.expect.exit, output);
      if (hostile.expect.exit !== 0) {
        assert.match(result.stderr, new RegExp((hostile.expect as { message: string }).message), output);
        assert.match(result.stderr, /pypakr: error: /, output);
        assert.match(result.stderr, /pypakr: hint: /, output);
      } else {
        await checkSuccess(hostile.expect as ExpectSuccess, hostile, ws);
      }
      assert.ok(result.peakRss < MAX_RSS_BYTES, `peak memory ${result.peakRss} bytes`);
      assert.ok(result.written < MAX_WRITTEN_BYTES, `wrote ${result.written} bytes`);

      // Sentinels beside and above the target, and everything outside it, as they were.
      for (const file of ws.sentinels) assert.equal(await fs.readFile(file, "utf8"), SENTINEL, file);
      const outsideAfter = await outsideTarget(ws);
      const expectedOutside = hostile.expect.exit === 0 && hostile.command === "create-image" ? [...outsideBefore, "out/image.tar"] : outsideBefore;
      assert.deepEqual(outsideAfter.sort(), [...expectedOutside].sort(), "something appeared or vanished outside the target");
      await assert.rejects(fs.lstat("/tmp/pypakr-hostile-absolute"));
      await assert.rejects(fs.lstat("/tmp/pypakr-hostile-slashes"));
      assert.deepEqual(await listTree(path.join(home, "store", "tmp")), [], "pypakr's tmp dir is not empty");

      if (hostile.expect.exit !== 0) {
        // No target, and no hidden staging sibling (.NAME.*), was left behind.
        if (ws.target) await assert.rejects(fs.lstat(ws.target), "a target was left behind");
        assert.deepEqual(
          (await fs.readdir(ws.out)).filter((name) => name.startsWith(".")),
          [],
          "a hidden staging path was left beside the target",
        );
        const storeAfter = await storeSnapshot();
        if (hostile.knownGap?.guarantee === "store-unchanged") {
          await t.test(`the store is unchanged (known gap: ${hostile.knownGap.fix.slice(0, 80)}...)`, { todo: hostile.knownGap.fix }, () => {
            assert.deepEqual(storeAfter, storeBefore);
          });
        } else {
          assert.deepEqual(storeAfter, storeBefore, "the store changed");
        }
        const partial = await partialBlobs();
        assert.deepEqual(partial.other.filter((name) => !partialBefore.other.includes(name)), [], "a failed pull kept unverified bytes in store/partial");
      }
      if (hostile.class === "size" || hostile.name.startsWith("registry-endless")) {
        t.diagnostic(`${result.ms} ms, peak RSS ${(result.peakRss / 1048576).toFixed(0)} MiB, wrote ${(result.written / 1048576).toFixed(1)} MiB`);
      }
    });
  }
});

function isUnder(entry: string, prefix: string): boolean {
  return entry === prefix || entry.startsWith(`${prefix}/`);
}

/**
 * Everything around the target: the case's own workspace (sentinels, out/)
 * but the container, and the test dir's top level (where the home, the
 * corpus and the other cases live). Earlier cases' containers are not walked.
 */
async function outsideTarget(ws: Workspace): Promise<string[]> {
  const own = (await listTree(ws.root)).filter((entry) => !isUnder(entry, "out/container"));
  const top = (await fs.readdir(dir)).map((name) => `/${name}`);
  return [...own, ...top].sort();
}

