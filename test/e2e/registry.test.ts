/**
 * push and pull through real OCI registries: Debian's docker-registry
 * (distribution 2.8) on 127.0.0.1, without auth, with htpasswd basic auth and
 * with bearer tokens from a token service in this process; interop with
 * skopeo both ways; a registry killed in the middle of a push.
 *
 * Not hermetic: needs docker-registry, apache2-utils (htpasswd), openssl and
 * skopeo (scripts/test.sh installs them). Credentials go to a DOCKER_CONFIG of
 * the test's own, never ~/.docker.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { CliResult } from "../support/helpers.js";
import { buildJokesImage, expectCleanFailure, expectOk, JOKE, makeJokesSource, makeTempDir, makeWheel, privateHome, pypakr, removeDir, tarDirectory } from "../support/helpers.js";
import { imageParts } from "../support/image-files.js";
import type { Registry } from "../support/registry.js";
import { REGISTRY_BINARY, requireBinaries, startRegistry, startStoppingProxy } from "../support/registry.js";

const OTHER_JOKE = "There are 10 kinds of venvs: those with pip and those without.";

let dir: string;
/** The store that builds the images and pushes them. */
let home: string;
let jokes1: string;
let jokes2: string;
let homes = 0;

before(async () => {
  requireBinaries([REGISTRY_BINARY, "htpasswd", "openssl", "skopeo"]);
  dir = await makeTempDir("pypakr-registry-test-");
  home = await privateHome(path.join(dir, "builder"));
  jokes1 = await buildJokesImage(path.join(dir, "builder"), { home });
  jokes2 = await buildVariant(path.join(dir, "variant"));
});
after(() => removeDir(dir));

/**
 * The jokes app with the same jokes-core wheel (so the same layer) and another
 * jokes-cli: it shares all distributions but one with jokes:1.
 */
async function buildVariant(into: string): Promise<string> {
  const source = path.join(into, "src");
  const packages = path.join(source, "packages");
  await fs.mkdir(packages, { recursive: true });
  const core = (await fs.readdir(path.join(dir, "builder", "jokes-src", "packages"))).find((name) => name.startsWith("jokes_core-")) ?? "";
  await fs.copyFile(path.join(dir, "builder", "jokes-src", "packages", core), path.join(packages, core));
  makeWheel(packages, {
    name: "jokes-cli",
    version: "2.0",
    requires: ["jokes-core"],
    files: { "jokes_cli/__init__.py": `import sys\n\ndef main():\n    print(${JSON.stringify(OTHER_JOKE)})\n    print('args:', ' '.join(sys.argv[1:]))\n` },
    scripts: { joke: "jokes_cli:main" },
  });
  await fs.writeFile(path.join(source, "setup"), "#!/bin/sh\nset -e\npip install --no-index --find-links packages jokes-cli\n", { mode: 0o755 });
  await fs.writeFile(path.join(source, "run"), '#!/bin/sh\nexec joke "$@"\n', { mode: 0o755 });
  const image = path.join(into, "jokes2.tar");
  expectOk(await pypakr(["create-image", "-s", tarDirectory(source, path.join(into, "src.tar")), "-i", image, "-t", "jokes:2"], { home }), "create-image of the variant");
  return image;
}

/** A new, empty store (sharing the machine's base) and an empty DOCKER_CONFIG. */
async function freshHome(): Promise<{ home: string; docker: string }> {
  const where = path.join(dir, `home-${++homes}`);
  const docker = path.join(where, "docker-config");
  await fs.mkdir(docker, { recursive: true });
  return { home: await privateHome(where), docker };
}

interface Run {
  home: string;
  docker: string;
  input?: string;
}

/** pypakr with its own DOCKER_CONFIG (never the user's ~/.docker). */
function cli(args: string[], where: Run): Promise<CliResult> {
  return pypakr(args, { home: where.home, env: { DOCKER_CONFIG: where.docker }, input: where.input ?? "", timeoutMs: 120_000 });
}

interface Blobs {
  manifest: string;
  config: { digest: string; size: number };
  layers: { digest: string; size: number }[];
  /** config and layers: what push uploads and pull downloads. */
  all: { digest: string; size: number }[];
}

async function blobsOf(image: string): Promise<Blobs> {
  const parts = await imageParts(image);
  const config = { digest: parts.manifest.config.digest, size: parts.manifest.config.size };
  const layers = parts.manifest.layers.map((layer) => ({ digest: layer.digest, size: layer.size }));
  return { manifest: parts.index.manifests[0]?.digest ?? "", config, layers, all: [config, ...layers] };
}

interface PushJson {
  reference: string;
  digest: string;
  uploaded: number;
  skipped: number;
  mounted: number;
  bytesUploaded: number;
}

interface PullJson {
  reference: string;
  digest: string;
  downloaded: number;
  present: number;
  bytesDownloaded: number;
}

function json<T>(result: CliResult, what: string): T {
  expectOk(result, what);
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`${what} --json printed no JSON:\n${result.stdout}`);
  }
}

/** Runs a command without blocking this process (the token service lives in it). */
function shell(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", command], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function firstLine(result: CliResult): string {
  return result.stdout.split("\n")[0] ?? "";
}

/** pull, create-container from the reference, run it: the container prints `joke`. */
async function pullAndRun(reference: string, where: Run, joke: string): Promise<PullJson> {
  const pulled = json<PullJson>(await cli(["pull", reference, "--json"], where), `pull ${reference}`);
  const container = path.join(dir, `container-${++homes}`);
  expectOk(await cli(["create-container", "-i", reference, "-c", container], where), `create-container -i ${reference}`);
  assert.equal(firstLine(expectOk(await cli(["run", "-c", container], where), "run")), joke);
  return pulled;
}

describe("real registry without auth", () => {
  let registry: Registry;
  let builder: Run;
  before(async () => {
    registry = await startRegistry();
    builder = { home, docker: (await freshHome()).docker };
  });
  after(() => registry?.stop());

  test("real registry: push uploads every blob; pull into another store; create-container and run from the reference", async () => {
    const blobs = await blobsOf(jokes1);
    const reference = `${registry.host}/jokes:1`;
    const pushed = expectOk(await cli(["push", jokes1, reference], builder), "push");
    assert.equal(pushed.stdout, `Pushed ${reference} ${blobs.manifest}\n`);
    assert.match(pushed.stderr, new RegExp(`pypakr: ${blobs.all.length} blobs? uploaded \\([^)]+\\), 0 already there, 0 mounted`));
    assert.equal(await registry.blobCount(), blobs.all.length + 1, "layers + config + manifest in the registry");
    assert.deepEqual(await registry.blobDigests(), [blobs.manifest, ...blobs.all.map((blob) => blob.digest)].sort());

    const other = await freshHome();
    const pulled = expectOk(await cli(["pull", reference], other), "pull");
    assert.equal(pulled.stdout, `Pulled ${reference} ${blobs.manifest}\n`);
    const images = json<{ tags: string[]; digest: string }[]>(await cli(["images", "--json"], other), "images");
    assert.deepEqual(images.map((image) => [image.tags, image.digest]), [[[reference], blobs.manifest]], "the pulled image is tagged with its full reference");
    const container = path.join(dir, "pulled-container");
    expectOk(await cli(["create-container", "-i", reference, "-c", container], other), "create-container -i REF");
    const ran = expectOk(await cli(["run", "-c", container, "-r", "./run", "--", "a", "b"], other), "run");
    assert.equal(ran.stdout, `${JOKE}\nargs: a b\n`);
    expectOk(await cli(["store", "verify"], other), "store verify after pull");
  });

  test("real registry: create-container -i REF and run -i REF pull what is missing by themselves", async () => {
    const reference = `${registry.host}/jokes:1`;
    expectOk(await cli(["push", jokes1, reference], builder), "push");
    const forCreate = await freshHome();
    const container = path.join(dir, "auto-pulled");
    expectOk(await cli(["create-container", "-i", reference, "-c", container], forCreate), "create-container -i REF in an empty store");
    assert.equal(firstLine(expectOk(await cli(["run", "-c", container], forCreate), "run")), JOKE);
    const forRun = await freshHome();
    const ran = expectOk(await cli(["run", "-i", reference, "-r", "./run", "--", "x", "y"], forRun), "run -i REF in an empty store");
    assert.equal(ran.stdout, `${JOKE}\nargs: x y\n`);
    const images = json<{ tags: string[] }[]>(await cli(["images", "--json"], forRun), "images");
    assert.ok(images.some((image) => image.tags.includes(reference)), JSON.stringify(images));
  });

  test("real registry: pull by digest, and pull -o writes an image archive with the same manifest", async () => {
    const blobs = await blobsOf(jokes1);
    expectOk(await cli(["push", jokes1, `${registry.host}/jokes:1`], builder), "push");
    const byDigest = `${registry.host}/jokes@${blobs.manifest}`;
    const where = await freshHome();
    const archive = path.join(dir, "pulled-by-digest.tar");
    const pulled = expectOk(await cli(["pull", byDigest, "-o", archive], where), "pull by digest with -o");
    assert.equal(pulled.stdout, `Pulled ${byDigest} ${blobs.manifest}\n`);
    assert.equal((await blobsOf(archive)).manifest, blobs.manifest);
    const inspected = json<{ digest: string }>(await cli(["inspect", "--json", archive], where), "inspect the written archive");
    assert.equal(inspected.digest, blobs.manifest);
    const container = path.join(dir, "by-digest");
    expectOk(await cli(["create-container", "-i", byDigest, "-c", container], where), "create-container -i HOST/REPO@DIGEST");
    assert.equal(firstLine(expectOk(await cli(["run", "-c", container], where), "run")), JOKE);
  });

  test("real registry: pulling a tag the registry lacks fails clearly", async () => {
    const where = await freshHome();
    expectCleanFailure(await cli(["pull", `${registry.host}/jokes:nosuch`], where), new RegExp(`${escape(registry.host)}/jokes:nosuch`));
  });

  test("real registry: a second image that shares all distributions but one uploads only its new blobs", async () => {
    const first = await blobsOf(jokes1);
    const second = await blobsOf(jokes2);
    const firstDigests = new Set(first.all.map((blob) => blob.digest));
    const shared = second.layers.filter((layer) => firstDigests.has(layer.digest));
    const fresh = second.all.filter((blob) => !firstDigests.has(blob.digest));
    // jokes-core is the shared layer; jokes-cli, the app files (other wheels) and the config are new.
    assert.equal(shared.length, 1, "precondition: the variant shares exactly the jokes-core layer");
    assert.equal(fresh.length, 3, "precondition: a new jokes-cli layer, a new app-files layer, a new config");

    expectOk(await cli(["push", jokes1, `${registry.host}/jokes:1`], builder), "push jokes:1");
    const before = await registry.blobCount();
    const result = await cli(["push", "jokes:2", `${registry.host}/jokes:2`, "--json"], builder);
    const pushed = json<PushJson>(result, "push jokes:2 --json");
    assert.equal(await registry.blobCount(), before + fresh.length + 1, "new layers + config + manifest");
    assert.deepEqual(pushed, {
      reference: `${registry.host}/jokes:2`,
      digest: second.manifest,
      uploaded: fresh.length,
      skipped: shared.length,
      mounted: 0,
      bytesUploaded: fresh.reduce((sum, blob) => sum + blob.size, 0),
    });
    assert.match(result.stderr, new RegExp(`pypakr: ${fresh.length} blobs? uploaded \\([^)]+\\), ${shared.length} already there, 0 mounted`));

    const quiet = await cli(["push", "jokes:2", `${registry.host}/jokes:2`, "--json", "-q"], builder);
    const again = json<PushJson>(quiet, "push -q again");
    assert.deepEqual([again.uploaded, again.skipped, again.mounted, again.bytesUploaded], [0, second.all.length, 0, 0], "a second push uploads nothing");
    assert.equal(quiet.stderr, "", "-q prints no summary");
  });

  test("real registry: pull of an image whose blobs are partly in the store downloads only the missing ones", async () => {
    const first = await blobsOf(jokes1);
    const second = await blobsOf(jokes2);
    expectOk(await cli(["push", "jokes:2", `${registry.host}/jokes:2`], builder), "push jokes:2");
    const where = await freshHome();
    expectOk(await cli(["load", "-i", jokes1], where), "load jokes:1");
    const firstDigests = new Set(first.all.map((blob) => blob.digest));
    const missing = second.all.filter((blob) => !firstDigests.has(blob.digest));
    const pulled = await pullAndRun(`${registry.host}/jokes:2`, where, OTHER_JOKE);
    assert.deepEqual(pulled, {
      reference: `${registry.host}/jokes:2`,
      digest: second.manifest,
      downloaded: missing.length,
      present: second.all.length - missing.length,
      bytesDownloaded: missing.reduce((sum, blob) => sum + blob.size, 0),
    });
    const again = json<PullJson>(await cli(["pull", `${registry.host}/jokes:2`, "--json"], where), "pull again");
    assert.deepEqual([again.downloaded, again.present, again.bytesDownloaded], [0, second.all.length, 0], "a second pull downloads nothing");
    expectOk(await cli(["store", "verify"], where), "store verify");
  });

  test("real registry: a push to another repository of the same registry mounts the blobs", async () => {
    const blobs = await blobsOf(jokes1);
    expectOk(await cli(["push", "jokes:1", `${registry.host}/jokes:1`], builder), "push by stored tag");
    const before = await registry.blobCount();
    const pushed = json<PushJson>(await cli(["push", "jokes:1", `${registry.host}/team/jokes:1`, "--json"], builder), "push to a second repository");
    assert.equal(pushed.digest, blobs.manifest);
    assert.ok(pushed.mounted > 0, `nothing mounted: ${JSON.stringify(pushed)}`);
    assert.equal(pushed.uploaded + pushed.skipped + pushed.mounted, blobs.all.length, JSON.stringify(pushed));
    assert.equal(pushed.uploaded, 0, `blobs the registry has were uploaded again: ${JSON.stringify(pushed)}`);
    assert.equal(await registry.blobCount(), before, "a mount stores no new blob");
    const where = await freshHome();
    await pullAndRun(`${registry.host}/team/jokes:1`, where, JOKE);
  });

  test("real registry: skopeo inspect reads what pypakr pushed", async () => {
    const blobs = await blobsOf(jokes1);
    expectOk(await cli(["push", jokes1, `${registry.host}/jokes:1`], builder), "push");
    const inspected = await shell(`skopeo inspect --tls-verify=false --no-creds docker://${registry.host}/jokes:1`);
    assert.equal(inspected.code, 0, inspected.stderr);
    const seen = JSON.parse(inspected.stdout) as { Digest: string; Layers: string[]; Os: string };
    assert.equal(seen.Digest, blobs.manifest);
    assert.deepEqual(seen.Layers, blobs.layers.map((layer) => layer.digest));
    assert.equal(seen.Os, "linux");
    const config = await shell(`skopeo inspect --tls-verify=false --no-creds --config --raw docker://${registry.host}/jokes:1`);
    assert.equal(config.code, 0, config.stderr);
    assert.deepEqual((JSON.parse(config.stdout) as { config: { Entrypoint: string[] } }).config.Entrypoint, ["./run"]);
  });

  test("real registry: pypakr pulls what skopeo pushed and makes a working container", async () => {
    const blobs = await blobsOf(jokes2);
    const copied = await shell(`skopeo copy --quiet --dest-tls-verify=false --dest-no-creds oci-archive:'${jokes2}' docker://${registry.host}/skopeo/jokes:2`);
    assert.equal(copied.code, 0, copied.stderr);
    const where = await freshHome();
    const pulled = await pullAndRun(`${registry.host}/skopeo/jokes:2`, where, OTHER_JOKE);
    assert.equal(pulled.digest, blobs.manifest, "skopeo keeps the manifest as it is");
    assert.equal(pulled.downloaded, blobs.all.length);
  });
});

/** No output may show the password, nor the base64 of user:password that config.json holds. */
function assertNoSecret(results: CliResult[], user: string, password: string): void {
  const basic = Buffer.from(`${user}:${password}`).toString("base64");
  for (const result of results) {
    for (const text of [result.stdout, result.stderr]) {
      assert.ok(!text.includes(password) && !text.includes(basic), `the password shows in the output:\n${text}`);
    }
  }
}

async function dockerConfig(docker: string): Promise<{ auths?: Record<string, { auth?: string }> } | null> {
  return fs.readFile(path.join(docker, "config.json"), "utf8").then((text) => JSON.parse(text) as { auths?: Record<string, { auth?: string }> }, () => null);
}

function expectLoginNeeded(result: CliResult, host: string): void {
  assert.equal(result.code, 1, `exit ${result.code}\n${result.stderr}`);
  expectCleanFailure(result, new RegExp(escape(host)));
  assert.match(result.stderr, /pypakr login/, "the hint names `pypakr login`");
}

/** The same steps against both kinds of authentication. */
function authSuite(auth: "htpasswd" | "token"): void {
  const user = auth === "htpasswd" ? "alice" : "bob";
  const password = `pw-${auth}-Zq8!x`;
  let registry: Registry;
  let builder: Run;
  before(async () => {
    registry = await startRegistry({ auth, users: { [user]: password } });
    builder = { home, docker: (await freshHome()).docker };
  });
  after(() => registry?.stop());

  test(`real registry (${auth}): push and pull without login fail, naming the registry and \`pypakr login\``, async () => {
    expectLoginNeeded(await cli(["push", jokes1, `${registry.host}/jokes:1`], builder), registry.host);
    expectLoginNeeded(await cli(["pull", `${registry.host}/jokes:1`], await freshHome()), registry.host);
  });

  test(`real registry (${auth}): login with a wrong password fails clearly and stores nothing`, async () => {
    const where = await freshHome();
    const result = await cli(["login", registry.host, "-u", user, "--password-stdin"], { ...where, input: "not-the-password\n" });
    expectCleanFailure(result, new RegExp(escape(registry.host)));
    assert.match(result.stderr, /password|unauthori[sz]ed|credentials|denied/i);
    assertNoSecret([result], user, "not-the-password");
    assert.equal((await dockerConfig(where.docker))?.auths?.[registry.host], undefined, "credentials were stored after a failed login");
  });

  test(`real registry (${auth}): login, then push and pull; config.json is private and no output shows the password`, async () => {
    const where = await freshHome();
    const shared: Run = { home, docker: where.docker };
    const outputs: CliResult[] = [];
    const login = expectOk(await cli(["login", registry.host, "-u", user, "--password-stdin"], { ...shared, input: `${password}\n` }), "login");
    outputs.push(login);
    assert.equal(login.stdout, "Login succeeded\n");
    const file = path.join(where.docker, "config.json");
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600, "config.json must be readable by its owner only");
    const stored = await dockerConfig(where.docker);
    assert.ok(stored?.auths?.[registry.host], `no entry for ${registry.host} in ${JSON.stringify(Object.keys(stored?.auths ?? {}))}`);

    const blobs = await blobsOf(jokes1);
    const pushed = expectOk(await cli(["push", jokes1, `${registry.host}/jokes:1`], shared), "push after login");
    outputs.push(pushed);
    assert.equal(pushed.stdout, `Pushed ${registry.host}/jokes:1 ${blobs.manifest}\n`);
    const pullResult = await cli(["pull", `${registry.host}/jokes:1`, "--json"], where);
    outputs.push(pullResult);
    assert.equal(json<PullJson>(pullResult, "pull after login").digest, blobs.manifest);
    const container = path.join(dir, `auth-${auth}`);
    outputs.push(expectOk(await cli(["create-container", "-i", `${registry.host}/jokes:1`, "-c", container], where), "create-container"));
    assert.equal(firstLine(expectOk(await cli(["run", "-c", container], where), "run")), JOKE);
    assertNoSecret(outputs, user, password);

    if (auth === "token") {
      const granted = registry.tokenRequests.filter((request) => request.user === user && request.status === 200).flatMap((request) => request.granted);
      assert.ok(granted.some((scope) => /^repository:jokes:.*push/.test(scope)), `no push token was asked for: ${JSON.stringify(registry.tokenRequests)}`);
      assert.ok(granted.some((scope) => /^repository:jokes:.*pull/.test(scope)), `no pull token was asked for: ${JSON.stringify(registry.tokenRequests)}`);
    }

    const logout = expectOk(await cli(["logout", registry.host], where), "logout");
    assertNoSecret([logout], user, password);
    assert.equal((await dockerConfig(where.docker))?.auths?.[registry.host], undefined, "logout left the credentials");
    expectLoginNeeded(await cli(["push", jokes1, `${registry.host}/jokes:1`], shared), registry.host);
  });

  test(`real registry (${auth}): login -p works too and warns that the password is visible`, async () => {
    const where = await freshHome();
    const result = expectOk(await cli(["login", registry.host, "-u", user, "-p", password], where), "login -p");
    assert.equal(result.stdout, "Login succeeded\n");
    assert.match(result.stderr, /warning: .*password/i);
    assertNoSecret([result], user, password);
    expectOk(await cli(["pull", `${registry.host}/jokes:1`], where), "pull after login -p");
  });
}

describe("real registry with htpasswd basic auth", () => authSuite("htpasswd"));
describe("real registry with bearer tokens from a token service", () => authSuite("token"));

describe("real registry killed in the middle of a push", () => {
  let registry: Registry;
  let big: string;
  let where: Run;
  before(async () => {
    registry = await startRegistry();
    where = await freshHome();
    // The jokes app plus 6 MB that does not compress, in the app-files layer.
    const build = path.join(dir, "big");
    const source = await makeJokesSource(path.join(build, "src"));
    await fs.writeFile(path.join(source, "data.bin"), randomBytes(6 * 1024 * 1024));
    big = path.join(build, "big.tar");
    expectOk(await cli(["create-image", "-s", tarDirectory(source, path.join(build, "src.tar")), "-i", big, "-t", "big:1"], where), "create-image of the big image");
  });
  after(() => registry?.stop());

  test("real registry killed mid-push: clear error, clean store; restarted, the same push succeeds", async () => {
    const blobs = await blobsOf(big);
    const total = blobs.all.reduce((sum, blob) => sum + blob.size, 0);
    // Kill it once a blob has landed and 2 MB have gone out, at the latest
    // just before the manifest would be sent: the push cannot complete.
    let landed = -1;
    const proxy = await startStoppingProxy(registry, (bytes) => bytes > Math.min(2 * 1024 * 1024, total / 3) && registry.blobCountSync() > 0);
    try {
      const reference = `${proxy.host}/big:1`;
      const failed = await cli(["push", "big:1", reference], where);
      assert.ok(proxy.tripped, `the push never reached the kill point (${proxy.bytesUp} of ${total} bytes):\n${failed.stderr}`);
      landed = await registry.blobCount();
      assert.notEqual(failed.code, 0, `the push succeeded against a dead registry:\n${failed.stdout}`);
      expectCleanFailure(failed, new RegExp(escape(proxy.host)));
      assert.equal(failed.stdout, "", "a failed push printed a result");
      expectOk(await cli(["store", "verify"], where), "store verify after the failed push");
      assert.ok(landed < blobs.all.length + 1, "the manifest reached the registry");

      await registry.restart();
      await proxy.resume();
      const pushed = json<PushJson>(await cli(["push", "big:1", reference, "--json"], where), "push after the restart");
      assert.equal(pushed.digest, blobs.manifest);
      assert.equal(pushed.uploaded + pushed.skipped + pushed.mounted, blobs.all.length, JSON.stringify(pushed));
      assert.ok(pushed.skipped >= landed, `${landed} blobs had landed before the kill, yet only ${pushed.skipped} were skipped`);
      assert.equal(await registry.blobCount(), blobs.all.length + 1);
      await pullAndRun(reference, await freshHome(), JOKE);
    } finally {
      await proxy.close();
    }
  });
});

describe("real registry over HTTPS with a private CA", () => {
  let registry: Registry;
  before(async () => {
    registry = await startRegistry({ tls: true });
  });
  after(() => registry?.stop());

  test("real registry over HTTPS: --ca-file trusts its certificate; without it the error names the fix", async () => {
    const where = { home, docker: (await freshHome()).docker };
    const reference = `${registry.host}/secure/jokes:1`;
    // On loopback pypakr speaks plain HTTP unless told of a CA: an HTTPS-only registry then fails clearly.
    expectCleanFailure(await cli(["push", jokes1, reference], where), new RegExp(escape(registry.host)));
    const pushed = json<PushJson>(await cli(["push", jokes1, reference, "--json", "--ca-file", registry.caFile ?? ""], where), "push --ca-file");
    assert.ok(pushed.uploaded > 0);
    const other = await freshHome();
    const pulled = json<PullJson>(await cli(["pull", reference, "--json", "--ca-file", registry.caFile ?? ""], other), "pull --ca-file");
    assert.equal(pulled.digest, pushed.digest);
    // A CA that did not sign the registry's certificate is refused, clearly, and nothing is stored.
    const stranger = path.join(dir, "stranger-ca");
    await fs.mkdir(stranger, { recursive: true });
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path.join(stranger, "key.pem"), "-out", path.join(stranger, "ca.pem"), "-days", "2", "-subj", "/CN=stranger"], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    const third = await freshHome();
    const refused = await cli(["pull", reference, "--ca-file", path.join(stranger, "ca.pem")], third);
    expectCleanFailure(refused, /certificate/i);
    assert.match(refused.stderr, /--ca-file/);
    assert.deepEqual(JSON.parse(expectOk(await cli(["images", "--json"], third), "images").stdout), []);
  });
});
