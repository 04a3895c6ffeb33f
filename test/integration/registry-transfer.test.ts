/**
 * push and pull against a small in-process registry (FakeRegistry: node:http
 * on 127.0.0.1) that can misbehave on demand: wrong bytes, redirect loops,
 * endless bodies, 429/503, connections cut half-way, Basic and Bearer auth.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { loadConfig, type Config } from "../../src/config/config.js";
import { login } from "../../src/registry/login.js";
import { pullImage } from "../../src/registry/pull.js";
import { pushImage } from "../../src/registry/push.js";
import { collectGarbage } from "../../src/store/gc.js";
import { addImageArchive } from "../../src/store/images.js";
import { Store } from "../../src/store/store.js";
import { PypakrError } from "../../src/util/errors.js";
import { digestOf, FakeRegistry, makeImage } from "../support/registry.js";

const FAST = { retry: { baseDelayMs: 1, maxDelayMs: 5 } };

async function storeContents(config: Config): Promise<{ blobs: string[]; partial: string[]; images: string[] }> {
  const store = await Store.open(config);
  const partial = await fs.readdir(path.join(store.dir, "partial")).catch(() => []);
  return { blobs: await fs.readdir(store.blobsDir), partial, images: Object.keys((await store.readIndex()).images) };
}

describe("push and pull against a fake registry", () => {
  let work: string;
  let registry: FakeRegistry;
  let home = 0;
  const freshConfig = async (): Promise<Config> => {
    const dir = path.join(work, `home-${++home}`);
    await fs.mkdir(dir);
    // As the CLI makes it (no ~/.pypakr in the empty HOME), so the test keeps up with Config's fields.
    return loadConfig({ HOME: dir, PYPAKR_HOME: dir });
  };
  let sender: Config;
  let image: Awaited<ReturnType<typeof makeImage>>;

  before(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-registry-"));
    registry = new FakeRegistry();
    await registry.start();
    sender = await freshConfig();
    image = await makeImage(work, [3000, 70_000, 100]);
    await addImageArchive(await Store.open(sender), image.file, { tag: "app:1" });
  });
  after(async () => {
    await registry.stop();
    await fs.rm(work, { recursive: true, force: true });
  });
  afterEach(() => {
    registry.hook = undefined;
    registry.auth = undefined;
  });

  test("a push sends every blob once, then only what is missing; another repository gets mounts", async () => {
    const first = await pushImage(sender, "app:1", `${registry.host}/team/app:1`, FAST);
    assert.deepEqual({ ...first, reference: undefined }, { reference: undefined, digest: image.digest, uploaded: 4, skipped: 0, mounted: 0, bytesUploaded: first.bytesUploaded });
    assert.equal(first.reference, `${registry.host}/team/app:1`);
    assert.ok(registry.manifests.has(`team/app:1`));
    const again = await pushImage(sender, "app:1", `${registry.host}/team/app:2`, FAST);
    assert.deepEqual([again.uploaded, again.skipped, again.mounted, again.bytesUploaded], [0, 4, 0, 0]);
    const other = await pushImage(sender, image.file, `${registry.host}/other/app`, FAST);
    assert.deepEqual([other.uploaded, other.skipped, other.mounted], [0, 0, 4]);
    assert.ok(registry.manifests.has("other/app:latest"));
  });

  test("a large blob goes up in PATCH chunks with Content-Range", async () => {
    // A fresh store knows no repository to mount from, so every blob is really sent.
    const fresh = await freshConfig();
    await addImageArchive(await Store.open(fresh), image.file, { tag: "app:1" });
    registry.log.length = 0;
    const result = await pushImage(fresh, "app:1", `${registry.host}/chunked/app:1`, { ...FAST, chunkSize: 32_768 });
    assert.deepEqual([result.uploaded, result.skipped, result.mounted], [4, 0, 0]);
    const ranges = registry.log.filter((entry) => entry.method === "PATCH").map((entry) => entry.headers["content-range"]);
    assert.deepEqual(ranges, ["0-32767", "32768-65535", "65536-69999"], "only the 70 kB layer is chunked");
    assert.deepEqual(registry.blobs.get(digestOf(image.layers[1] as Buffer)), image.layers[1]);
  });

  test("a pull stores and tags the image with the full reference, then finds everything present", async () => {
    const receiver = await freshConfig();
    const pulled = await pullImage(receiver, `${registry.host}/team/app:1`, { ...FAST, output: path.join(work, "pulled.tar") });
    assert.deepEqual([pulled.digest, pulled.downloaded, pulled.present], [image.digest, 4, 0]);
    assert.ok(pulled.bytesDownloaded > 73_010, "the layers and the config travelled");
    const index = await (await Store.open(receiver)).readIndex();
    assert.equal(index.tags[`${registry.host}/team/app:1`], image.digest);
    await fs.access(path.join(work, "pulled.tar"));
    const again = await pullImage(receiver, `${registry.host}/team/app@${image.digest}`, FAST);
    assert.deepEqual([again.downloaded, again.present, again.bytesDownloaded], [0, 4, 0]);
    assert.deepEqual((await storeContents(receiver)).partial, []);
  });

  test("a registry that sends wrong bytes gets a clear error and nothing of it is kept", async () => {
    const receiver = await freshConfig();
    registry.hook = (req, res, url) => {
      if (req.method !== "GET" || !url.pathname.includes("/blobs/sha256:")) return false;
      const bytes = registry.blobs.get(url.pathname.split("/").pop() ?? "") as Buffer;
      res.writeHead(200, { "content-length": bytes.length }).end(Buffer.alloc(bytes.length, 7));
      return true;
    };
    await assert.rejects(pullImage(receiver, `${registry.host}/team/app:1`, FAST), (error: unknown) => error instanceof PypakrError && /sent wrong bytes for blob sha256:/.test(error.message) && /nothing of it was kept/.test(error.hint ?? ""));
    assert.deepEqual(await storeContents(receiver), { blobs: [], partial: [], images: [] });
  });

  test("a manifest that does not match the digest asked for is refused", async () => {
    const receiver = await freshConfig();
    registry.hook = (req, res, url) => {
      if (!url.pathname.includes("/manifests/")) return false;
      res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(registry.manifests.get("team/app:1")?.toString().replace("}", ' }'));
      return true;
    };
    await assert.rejects(pullImage(receiver, `${registry.host}/team/app@${image.digest}`, FAST), /does not match its digest/);
    assert.deepEqual((await storeContents(receiver)).images, []);
  });

  test("a redirect loop is an error, not a hang", async () => {
    const receiver = await freshConfig();
    registry.hook = (req, res, url) => {
      if (!url.pathname.includes("/blobs/")) return false;
      res.writeHead(302, { location: url.pathname.endsWith("/x") ? url.pathname.slice(0, -2) : `${url.pathname}/x` }).end();
      return true;
    };
    await assert.rejects(pullImage(receiver, `${registry.host}/team/app:1`, FAST), /redirects in a loop/);
  });

  test("redirects are followed, without the Authorization header to another host", async () => {
    const storage = new FakeRegistry();
    await storage.start();
    try {
      for (const [digest, bytes] of registry.blobs) {
        storage.blobs.set(digest, bytes);
        storage.repos.set("s", new Set([...(storage.repos.get("s") ?? []), digest]));
      }
      registry.auth = { kind: "basic", user: "u", password: "pw-redirect" };
      registry.hook = (req, res, url) => {
        if (req.method !== "GET" || !url.pathname.includes("/blobs/")) return false;
        if (!req.headers.authorization) return false; // let the challenge happen
        res.writeHead(307, { location: `http://${storage.host}/v2/s/blobs/${url.pathname.split("/").pop() ?? ""}` }).end();
        return true;
      };
      const receiver = await freshConfig();
      await pullImage(receiver, `${registry.host}/team/app:1`, { ...FAST, credentials: { username: "u", secret: "pw-redirect" } });
      assert.ok(storage.log.length >= 4);
      assert.ok(storage.log.every((entry) => entry.headers.authorization === undefined));
    } finally {
      await storage.stop();
    }
  });

  test("a body longer than the descriptor says is cut off and refused", async () => {
    const receiver = await freshConfig();
    registry.hook = (req, res, url) => {
      if (req.method !== "GET" || !url.pathname.includes("/blobs/sha256:")) return false;
      res.writeHead(200);
      // Endless: the client must stop reading, or this test never ends.
      const timer = setInterval(() => res.write(Buffer.alloc(16_384, 1)), 1);
      res.on("close", () => clearInterval(timer));
      return true;
    };
    await assert.rejects(pullImage(receiver, `${registry.host}/team/app:1`, FAST), /sent more than the \d+ bytes/);
    assert.deepEqual(await storeContents(receiver), { blobs: [], partial: [], images: [] });
  });

  test("429 with Retry-After and 503 are retried", async () => {
    const receiver = await freshConfig();
    let refusals = 0;
    registry.hook = (_req, res, url) => {
      if (refusals >= 4 || !url.pathname.startsWith("/v2/team/")) return false;
      refusals++;
      res.writeHead(refusals % 2 ? 429 : 503, { "retry-after": "0" }).end();
      return true;
    };
    const pulled = await pullImage(receiver, `${registry.host}/team/app:1`, FAST);
    assert.equal(pulled.digest, image.digest);
    assert.equal(refusals, 4);
  });

  test("a pull cut off half-way keeps the bytes, and the next pull resumes with a Range request", async () => {
    const receiver = await freshConfig();
    const big = image.layers[1] as Buffer;
    const bigDigest = digestOf(big);
    let cut = true;
    registry.hook = (req, res, url) => {
      if (!cut || req.method !== "GET" || !url.pathname.endsWith(bigDigest) || req.headers.range) return false;
      res.writeHead(200, { "content-length": big.length });
      res.write(big.subarray(0, 30_000), () => setTimeout(() => res.destroy(), 20));
      return true;
    };
    // Every try is cut and the registry "does not resume" during this run (ranges are refused below).
    const refuseRanges: typeof registry.hook = (req, res, url) => {
      if (cut && req.headers.range && url.pathname.endsWith(bigDigest)) {
        res.writeHead(503).end();
        return true;
      }
      return false;
    };
    const cutting = registry.hook;
    registry.hook = async (req, res, url) => (await refuseRanges(req, res, url)) || cutting(req, res, url);
    await assert.rejects(pullImage(receiver, `${registry.host}/team/app:1`, { retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } }), PypakrError);
    const partial = await storeContents(receiver);
    assert.deepEqual(partial.images, []);
    assert.ok(partial.partial.includes(bigDigest.slice(7)), "the half-downloaded blob is kept for the next try");
    assert.ok((await fs.stat(path.join(receiver.pypakrDir, "store", "partial", bigDigest.slice(7)))).size >= 30_000);

    cut = false;
    registry.log.length = 0;
    const pulled = await pullImage(receiver, `${registry.host}/team/app:1`, FAST);
    assert.equal(pulled.digest, image.digest);
    const ranged = registry.log.find((entry) => entry.path.endsWith(bigDigest) && entry.method === "GET");
    assert.match(String(ranged?.headers.range), /^bytes=\d+-$/);
    assert.ok(pulled.bytesDownloaded < big.length, `resumed: ${pulled.bytesDownloaded} bytes travelled`);
    assert.deepEqual((await storeContents(receiver)).partial, []);
  });

  test("gc drops a half-downloaded blob that no pull is fetching", async () => {
    const receiver = await freshConfig();
    const big = image.layers[1] as Buffer;
    const bigDigest = digestOf(big);
    registry.hook = (req, res, url) => {
      if (req.method !== "GET" || !url.pathname.endsWith(bigDigest)) return false;
      res.writeHead(200, { "content-length": big.length });
      res.write(big.subarray(0, 30_000), () => setTimeout(() => res.destroy(), 20));
      return true;
    };
    await assert.rejects(pullImage(receiver, `${registry.host}/team/app:1`, { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 2 } }), PypakrError);
    assert.ok((await storeContents(receiver)).partial.includes(bigDigest.slice(7)));
    // How much arrived before the cut depends on the machine's load: gc must free whatever did.
    const kept = (await fs.stat(path.join(receiver.pypakrDir, "store", "partial", bigDigest.slice(7)))).size;
    assert.ok(kept > 0, "the cut download kept nothing");
    const freed = await collectGarbage(await Store.open(receiver));
    assert.ok(freed.freedBytes >= kept, `freed ${freed.freedBytes} of ${kept}`);
    assert.deepEqual((await storeContents(receiver)).partial, []);
  });

  test("a pull refuses an image without a pypakr config before any layer travels, and keeps nothing", async () => {
    const foreign = await makeImage(work, [5000], { pypakr: false });
    // Such an image cannot be loaded into a store, so the fake registry is filled directly.
    const { readArchive } = await import("../support/image-files.js");
    for (const [name, bytes] of await readArchive(foreign.file)) {
      const digest = /^blobs\/sha256\/(\w+)$/.exec(name)?.[1];
      if (!digest) continue;
      if (`sha256:${digest}` === foreign.digest) {
        registry.manifests.set("foreign/app:1", bytes);
      } else {
        registry.blobs.set(`sha256:${digest}`, bytes);
        registry.repos.set("foreign/app", new Set([...(registry.repos.get("foreign/app") ?? []), `sha256:${digest}`]));
      }
    }
    const receiver = await freshConfig();
    registry.log.length = 0;
    await assert.rejects(pullImage(receiver, `${registry.host}/foreign/app:1`, FAST), /not one pypakr made/);
    assert.equal(registry.log.filter((entry) => entry.path.endsWith(digestOf(foreign.layers[0] as Buffer))).length, 0, "no layer was fetched");
    assert.deepEqual(await storeContents(receiver), { blobs: [], partial: [], images: [] });
  });

  test("Bearer auth: the token flow works, and no secret shows in errors", async () => {
    registry.auth = { kind: "bearer", user: "george", password: "correct-horse-battery" };
    const receiver = await freshConfig();
    const pulled = await pullImage(receiver, `${registry.host}/team/app:1`, { ...FAST, credentials: { username: "george", secret: "correct-horse-battery" } });
    assert.equal(pulled.digest, image.digest);
    assert.ok(registry.log.some((entry) => entry.path.startsWith("/token?") && entry.path.includes("scope=repository%3Ateam%2Fapp%3Apull")));
    assert.ok(registry.log.every((entry) => !entry.path.includes("correct-horse")), "credentials never go in a URL");
    await assert.rejects(pullImage(await freshConfig(), `${registry.host}/team/app:1`, { ...FAST, credentials: { username: "george", secret: "wrong-password-1" } }), (error: unknown) => {
      assert.ok(error instanceof PypakrError);
      assert.match(error.message, /refused the stored login for user george/);
      assert.doesNotMatch(`${error.message}${error.hint}${error.stack}`, /wrong-password-1|correct-horse/);
      return true;
    });
  });

  test("login checks the credentials (Basic) before storing them, mode 0600", async () => {
    registry.auth = { kind: "basic", user: "george", password: "pw-login-123" };
    const env = { ...process.env, DOCKER_CONFIG: path.join(work, "docker") };
    await assert.rejects(login(registry.host, { username: "george", secret: "nope-nope" }, { env }), /login to .* failed/);
    await assert.rejects(fs.access(path.join(work, "docker", "config.json")));
    await login(registry.host, { username: "george", secret: "pw-login-123" }, { env });
    assert.equal((await fs.stat(path.join(work, "docker", "config.json"))).mode & 0o777, 0o600);
    // The stored login is then used by a push.
    const pushed = await pushImage(sender, "app:1", `${registry.host}/team/app:3`, { ...FAST, env });
    assert.equal(pushed.digest, image.digest);
  });
});
