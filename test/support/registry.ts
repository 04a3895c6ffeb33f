/**
 * Real OCI registries for the push/pull tests: Debian's docker-registry
 * (distribution 2.8) on 127.0.0.1, with no auth, htpasswd basic auth, or
 * bearer tokens from a small token service run in the test process; a TCP
 * proxy that "kills the registry" once a given number of bytes has gone
 * through it, to interrupt a push at a chosen point; and FakeRegistry, a
 * small in-process registry that misbehaves on demand, with synthetic images
 * (makeImage) to push to it.
 *
 * Everything binds to loopback (127.0.0.1, and 127.0.0.2 for a fake "other
 * host") and is stopped by stop() (and, as a last resort, SIGKILLed when the
 * test process exits).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import type { ChildProcess } from "node:child_process";
import { createHash, createSign, randomBytes, randomUUID, X509Certificate } from "node:crypto";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { notificationsYaml } from "../../src/hub/hub.js";
import { gzipSync } from "node:zlib";
import { imageDocuments, writeBlobsArchive } from "../../src/image/archive.js";
import type { ImageConfig } from "../../src/image/format.js";
import { MEDIA_TYPE_LAYER_GZIP } from "../../src/image/media-types.js";
import type { WrittenLayer } from "../../src/image/layer-writer.js";
import type { Digest } from "../../src/util/hash.js";
import { freePort, makeTempDir, removeDir } from "./helpers.js";
import { tarOf } from "./tar.js";

export const REGISTRY_BINARY = "/usr/bin/docker-registry";

export interface RegistryOptions {
  /** No auth by default. */
  auth?: "htpasswd" | "token";
  /** user -> password, for htpasswd and token modes (default: one user "tester"). */
  users?: Record<string, string>;
  /** HTTPS with a self-signed certificate for 127.0.0.1 (its file: Registry.caFile). */
  tls?: boolean;
  /** storage.delete.enabled (true by default); false makes every manifest DELETE a 405. */
  deleteEnabled?: boolean;
  /** Notifications (a hub's /events): see notificationsYaml. */
  notifications?: { url: string; token: string };
}

export interface TokenRequest {
  /** The authenticated user, or null for an anonymous request. */
  user: string | null;
  service: string;
  scopes: string[];
  /** What the token granted ("repository:NAME:pull,push"); empty when refused or anonymous. */
  granted: string[];
  /** HTTP status of the answer (401 for a wrong password). */
  status: number;
}

export interface Registry {
  /** "127.0.0.1:PORT", what a reference starts with. */
  host: string;
  port: number;
  /** The registry's storage root (storage.filesystem.rootdirectory). */
  storage: string;
  auth: "none" | "htpasswd" | "token";
  users: Record<string, string>;
  /** The certificate to trust (tls mode only). */
  caFile: string | null;
  /** Every request the token service answered (token mode only; empty otherwise). */
  tokenRequests: TokenRequest[];
  /** Stops the registry (and the token service) and removes its files. */
  stop(): Promise<void>;
  /** SIGKILLs the registry process; the token service and storage stay. */
  kill(): void;
  /** Starts the registry again on the same port and storage (after kill()). */
  restart(): Promise<void>;
  /** Number of blobs the registry stores (layers, configs and manifests). */
  blobCount(): Promise<number>;
  /** The digests ("sha256:...") of the blobs the registry stores. */
  blobDigests(): Promise<string[]>;
  /** blobCount(), synchronously (for the stopping proxy's trigger). */
  blobCountSync(): number;
}

/** Fails with a message that says how to get the binary (CI installs them via scripts/test.sh). */
export function requireBinaries(names: string[]): void {
  const missing = names.filter((name) => spawnSync("/bin/sh", ["-c", `command -v '${name}'`]).status !== 0);
  if (missing.length > 0) {
    throw new Error(
      `the registry tests need ${missing.join(", ")}, which ${missing.length === 1 ? "is" : "are"} not installed: run \`bash scripts/test.sh\` (it installs them) or \`apt-get install docker-registry apache2-utils openssl skopeo\``,
    );
  }
}

const running = new Set<ChildProcess>();
const directories = new Set<string>();
/** When the test process ends without after() (killed, interrupted), nothing stays behind either. */
const killAll = () => {
  for (const child of running) child.kill("SIGKILL");
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
};
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}
/** With util-linux's setpriv, the registry also dies when the test process is SIGKILLed. */
const SETPRIV = spawnSync("/bin/sh", ["-c", "command -v setpriv"]).status === 0;

/** Any HTTP answer from GET /v2/ (200 or 401) means the registry is up. */
function probe(url: string): Promise<number | null> {
  return new Promise((resolve) => {
    const get = url.startsWith("https:") ? (target: string, options: https.RequestOptions, done: (response: http.IncomingMessage) => void) => https.get(target, options, done) : http.get;
    const request = get(url, { timeout: 1000, rejectUnauthorized: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? null);
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(null));
  });
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

interface TokenService {
  realm: string;
  close(): Promise<void>;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

/**
 * The Docker token spec's authorization server: GET REALM?service=S&scope=...
 * (optionally with basic auth; also the OAuth2 POST form) answers a JWT,
 * signed RS256 with the key of a self-signed certificate that the registry
 * trusts (rootcertbundle); the certificate travels in the header's x5c.
 */
async function startTokenService(dir: string, options: { service: string; issuer: string; users: Record<string, string>; log: TokenRequest[] }): Promise<TokenService & { certFile: string }> {
  const keyFile = path.join(dir, "token.key");
  const certFile = path.join(dir, "token.crt");
  run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=pypakr test token issuer"]);
  const key = await fs.readFile(keyFile, "utf8");
  const certificate = new X509Certificate(await fs.readFile(certFile));

  const sign = (user: string, access: { type: string; name: string; actions: string[] }[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [certificate.raw.toString("base64")] };
    const claims = { iss: options.issuer, sub: user, aud: options.service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = createSign("RSA-SHA256").update(input).sign(key);
    return `${input}.${base64url(signature)}`;
  };

  const handle = (request: http.IncomingMessage, body: string, response: http.ServerResponse): void => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const form = request.method === "POST" ? new URLSearchParams(body) : new URLSearchParams();
    const service = url.searchParams.get("service") ?? form.get("service") ?? "";
    const scopes = [...url.searchParams.getAll("scope"), ...form.getAll("scope")].flatMap((scope) => scope.split(" ")).filter(Boolean);
    let user: string | null = null;
    let password: string | null = null;
    const authorization = request.headers.authorization ?? "";
    if (/^basic /i.test(authorization)) {
      const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      user = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    } else if (form.get("grant_type") === "password") {
      user = form.get("username");
      password = form.get("password");
    }
    const entry: TokenRequest = { user, service, scopes, granted: [], status: 200 };
    options.log.push(entry);
    const answer = (status: number, value: unknown) => {
      entry.status = status;
      response.writeHead(status, { "Content-Type": "application/json" });
      response.end(JSON.stringify(value));
    };
    if (url.pathname !== "/token") return answer(404, { errors: [{ code: "NOT_FOUND", message: "no such path" }] });
    if (service !== options.service) return answer(400, { errors: [{ code: "DENIED", message: `unknown service ${JSON.stringify(service)}` }] });
    if (user !== null && options.users[user] !== password) return answer(401, { errors: [{ code: "UNAUTHORIZED", message: "wrong user name or password" }] });
    // Authenticated users get what they ask for; anonymous requests get a token that grants nothing.
    const access = user === null ? [] : scopes.map((scope) => {
      const parts = scope.split(":");
      const type = parts[0] ?? "";
      const actions = (parts.at(-1) ?? "").split(",").filter(Boolean);
      const name = parts.slice(1, -1).join(":");
      return { type, name, actions: actions.includes("*") ? ["*"] : actions.filter((action) => ["pull", "push", "delete"].includes(action)) };
    });
    entry.granted = access.map((item) => `${item.type}:${item.name}:${item.actions.join(",")}`);
    const token = sign(user ?? "", access);
    answer(200, { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() });
  };

  const server = http.createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    request.on("end", () => handle(request, body, response));
  });
  await new Promise<void>((resolve, reject) => {
    server.on("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certFile,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}


export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  requireBinaries([REGISTRY_BINARY, ...(options.auth === "htpasswd" ? ["htpasswd"] : []), ...(options.auth === "token" || options.tls ? ["openssl"] : [])]);
  const dir = await makeTempDir("pypakr-registry-");
  directories.add(dir);
  const storage = path.join(dir, "storage");
  await fs.mkdir(storage);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const users = options.users ?? { tester: "s3cret-Pa55word" };
  const tokenRequests: TokenRequest[] = [];

  let authYaml = "";
  let tokenService: TokenService | null = null;
  if (options.auth === "htpasswd") {
    const lines = Object.entries(users).map(([user, password]) => run("htpasswd", ["-Bbn", user, password]).trim());
    const file = path.join(dir, "htpasswd");
    await fs.writeFile(file, `${lines.join("\n")}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: pypakr-test-registry\n    path: ${file}\n`;
  } else if (options.auth === "token") {
    const service = "pypakr-test-registry";
    const issuer = "pypakr-test-issuer";
    const started = await startTokenService(dir, { service, issuer, users, log: tokenRequests });
    tokenService = started;
    authYaml = `auth:\n  token:\n    realm: ${started.realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${started.certFile}\n`;
  }
  let caFile: string | null = null;
  let tlsYaml: string[] = [];
  if (options.tls) {
    caFile = path.join(dir, "registry.crt");
    const keyFile = path.join(dir, "registry.key");
    run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", caFile, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]);
    tlsYaml = ["  tls:", `    certificate: ${caFile}`, `    key: ${keyFile}`];
  }
  const config = path.join(dir, "config.yml");
  await fs.writeFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${storage}`,
      "  delete:",
      `    enabled: ${options.deleteEnabled ?? true}`,
      "  maintenance:",
      "    uploadpurging:",
      "      enabled: false",
      "http:",
      `  addr: ${host}`,
      "  secret: pypakr-test-secret",
      ...tlsYaml,
      "",
    ].join("\n") +
      authYaml +
      (options.notifications ? notificationsYaml(options.notifications.url, options.notifications.token) : ""),
  );

  let child: ChildProcess | null = null;
  let output = "";
  const launch = async (): Promise<void> => {
    output = "";
    const command = SETPRIV ? ["setpriv", "--pdeathsig", "KILL", "--", REGISTRY_BINARY] : [REGISTRY_BINARY];
    const started = spawn(command[0] ?? REGISTRY_BINARY, [...command.slice(1), "serve", config], { stdio: ["ignore", "pipe", "pipe"] });
    child = started;
    running.add(started);
    const collect = (chunk: Buffer) => (output = (output + chunk.toString("utf8")).slice(-8000));
    started.stdout?.on("data", collect);
    started.stderr?.on("data", collect);
    const state: { exited: string | null } = { exited: null };
    started.on("error", (error) => (state.exited = String(error)));
    started.on("exit", (code, signal) => {
      running.delete(started);
      state.exited = `exited with ${signal ?? code}`;
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (state.exited !== null) throw new Error(`docker-registry ${state.exited} before answering on ${host}:\n${output}`);
      if ((await probe(`${options.tls ? "https" : "http"}://${host}/v2/`)) !== null) return;
      if (Date.now() > deadline) {
        started.kill("SIGKILL");
        throw new Error(`docker-registry did not answer GET http://${host}/v2/ within 15 s:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const killChild = async (signal: NodeJS.Signals): Promise<void> => {
    const current = child;
    child = null;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const gone = new Promise((resolve) => current.once("exit", resolve));
    current.kill(signal);
    const timer = setTimeout(() => current.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(timer);
  };

  const blobDigests = async (): Promise<string[]> => {
    const root = path.join(storage, "docker", "registry", "v2", "blobs", "sha256");
    const digests: string[] = [];
    for (const prefix of await fs.readdir(root).catch(() => [] as string[])) {
      for (const hex of await fs.readdir(path.join(root, prefix)).catch(() => [] as string[])) {
        if (await fs.access(path.join(root, prefix, hex, "data")).then(() => true, () => false)) digests.push(`sha256:${hex}`);
      }
    }
    return digests.sort();
  };

  try {
    await launch();
  } catch (error) {
    await tokenService?.close();
    await removeDir(dir);
    directories.delete(dir);
    throw error;
  }

  return {
    host,
    port,
    storage,
    auth: options.auth ?? "none",
    users,
    caFile,
    tokenRequests,
    stop: async () => {
      await killChild("SIGTERM");
      await tokenService?.close();
      await removeDir(dir);
      directories.delete(dir);
    },
    kill: () => {
      const current = child;
      if (current && current.exitCode === null && current.signalCode === null) current.kill("SIGKILL");
    },
    restart: async () => {
      await killChild("SIGKILL");
      await launch();
    },
    blobCount: async () => (await blobDigests()).length,
    blobDigests,
    blobCountSync: () => {
      const root = path.join(storage, "docker", "registry", "v2", "blobs", "sha256");
      const list = (where: string) => (existsSync(where) ? readdirSync(where) : []);
      return list(root).reduce((count, prefix) => count + list(path.join(root, prefix)).filter((hex) => existsSync(path.join(root, prefix, hex, "data"))).length, 0);
    },
  };
}

export interface StoppingProxy {
  /** "127.0.0.1:PORT": push and pull through this host instead of the registry's. */
  host: string;
  /** True once the trigger fired (the registry was killed and every connection cut). */
  readonly tripped: boolean;
  /** Bytes forwarded from clients to the registry so far. */
  readonly bytesUp: number;
  /** Resolves when the trigger fires. */
  whenTripped: Promise<void>;
  /** Listens again on the same port and forwards everything (the trigger stays off). */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of `registry` that, as soon as `shouldStop(bytes)` is
 * true (asked before each chunk from a client is forwarded, with the bytes
 * forwarded so far plus that chunk), kills the registry process, cuts every
 * connection and stops listening: a registry dying in the middle of an upload,
 * as a client sees it. The chunk that fired the trigger is never forwarded.
 */
export async function startStoppingProxy(registry: Registry, shouldStop: (bytes: number) => boolean): Promise<StoppingProxy> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let armed = true;
  let tripped = false;
  let bytesUp = 0;
  let notify: () => void = () => undefined;
  const whenTripped = new Promise<void>((resolve) => (notify = resolve));
  let server: net.Server;

  const trip = () => {
    tripped = true;
    armed = false;
    registry.kill();
    server.close();
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    notify();
  };

  const onConnection = (client: net.Socket) => {
    const upstream = net.connect(registry.port, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.on("data", (chunk: Buffer) => {
      if (armed && shouldStop(bytesUp + chunk.length)) return trip();
      bytesUp += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on("drain", () => client.resume());
    upstream.on("data", (chunk: Buffer) => {
      if (!client.write(chunk)) upstream.pause();
    });
    client.on("drain", () => upstream.resume());
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = net.createServer(onConnection);
      server.on("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
  await listen();

  return {
    host: `127.0.0.1:${port}`,
    get tripped() {
      return tripped;
    },
    get bytesUp() {
      return bytesUp;
    },
    whenTripped,
    resume: async () => {
      armed = false;
      if (!server.listening) await listen();
    },
    close: async () => {
      armed = false;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}

export const digestOf = (bytes: Buffer): Digest => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
/** Hooks see each request first; returning true means the hook answered it. */
export type Hook = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean | Promise<boolean>;

/**
 * A small OCI registry in the test process (node:http, on 127.0.0.1 or
 * another loopback address) that can misbehave on demand through `hook`,
 * with Basic or Bearer auth, and a log of every request it was sent
 * (headers included, so a test can prove what never reached it).
 */
/** The one token the fake registries hand out and accept. */
export const FAKE_TOKEN = "the-bearer-token-42";

export class FakeRegistry {
  readonly blobs = new Map<string, Buffer>();
  readonly repos = new Map<string, Set<string>>();
  readonly manifests = new Map<string, Buffer>();
  readonly uploads = new Map<string, { repo: string; chunks: Buffer[] }>();
  readonly log: { method: string; path: string; headers: http.IncomingHttpHeaders }[] = [];
  hook: Hook | undefined;
  /** Bearer challenges name `realm`, else this server's own /token. */
  auth: { kind: "basic" | "bearer"; user: string; password: string; realm?: string } | undefined;
  /** Serves /token (Basic-authenticated) for a registry elsewhere whose challenge names this server as its realm. */
  tokenService: { user: string; password: string } | undefined;
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  host = "";

  /** Listens on `address` (loopback only: 127.0.0.1 by default, or e.g. 127.0.0.2 for "another host"). */
  async start(address = "127.0.0.1"): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, address, resolve));
    this.host = `${address}:${(this.server.address() as AddressInfo).port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private has(repo: string, digest: string): boolean {
    return this.repos.get(repo)?.has(digest) ?? false;
  }

  private add(repo: string, digest: string, bytes: Buffer): void {
    this.blobs.set(digest, bytes);
    if (!this.repos.has(repo)) this.repos.set(repo, new Set());
    this.repos.get(repo)?.add(digest);
  }

  private authorized(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    const header = req.headers.authorization ?? "";
    const basicOf = (login: { user: string; password: string }) => `Basic ${Buffer.from(`${login.user}:${login.password}`).toString("base64")}`;
    const tokens = this.tokenService ?? (this.auth?.kind === "bearer" && !this.auth.realm ? this.auth : undefined);
    if (tokens && url.pathname === "/token") {
      if (header !== basicOf(tokens)) {
        res.writeHead(401).end();
        return false;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: FAKE_TOKEN, expires_in: 300 }));
      return false;
    }
    if (!this.auth) return true;
    const wanted = this.auth.kind === "basic" ? basicOf(this.auth) : `Bearer ${FAKE_TOKEN}`;
    if (header === wanted) return true;
    const challenge = this.auth.kind === "basic" ? 'Basic realm="fake"' : `Bearer realm="${this.auth.realm ?? `http://${this.host}/token`}",service="fake"`;
    res.writeHead(401, { "www-authenticate": challenge, "content-type": "application/json" }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    return false;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://${this.host}`);
    this.log.push({ method: req.method ?? "", path: `${url.pathname}${url.search}`, headers: req.headers });
    const chunks: Buffer[] = [];
    const body = async () => {
      for await (const chunk of req) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    if (this.hook && (await this.hook(req, res, url))) return;
    if (!this.authorized(req, res, url)) return;
    if (url.pathname === "/v2/") return void res.writeHead(200).end("{}");
    const upload = /^\/upload\/(\w+)$/.exec(url.pathname);
    if (upload) {
      const session = this.uploads.get(upload[1] ?? "");
      if (!session) return void res.writeHead(404).end();
      session.chunks.push(await body());
      if (req.method === "PATCH") return void res.writeHead(202, { location: url.pathname }).end();
      const bytes = Buffer.concat(session.chunks);
      const digest = url.searchParams.get("digest") ?? "";
      if (digestOf(bytes) !== digest) return void res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID"}]}');
      this.add(session.repo, digest, bytes);
      return void res.writeHead(201).end();
    }
    const match = /^\/v2\/(.+)\/(blobs|manifests)\/(.*)$/.exec(url.pathname);
    if (!match) return void res.writeHead(404).end();
    const [, repo = "", kind, ref = ""] = match;
    if (kind === "blobs" && ref === "uploads/" && req.method === "POST") {
      await body();
      const mount = url.searchParams.get("mount");
      const from = url.searchParams.get("from");
      if (mount && from && this.has(from, mount)) {
        this.add(repo, mount, this.blobs.get(mount) as Buffer);
        return void res.writeHead(201).end();
      }
      const id = randomBytes(4).toString("hex");
      this.uploads.set(id, { repo, chunks: [] });
      return void res.writeHead(202, { location: `/upload/${id}` }).end();
    }
    if (kind === "blobs") {
      if (!this.has(repo, ref)) return void res.writeHead(404).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      const bytes = this.blobs.get(ref) as Buffer;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      if (range) {
        const start = Number(range[1]);
        return void res.writeHead(206, { "content-range": `bytes ${start}-${bytes.length - 1}/${bytes.length}`, "content-length": bytes.length - start }).end(req.method === "HEAD" ? undefined : bytes.subarray(start));
      }
      return void res.writeHead(200, { "content-length": bytes.length }).end(req.method === "HEAD" ? undefined : bytes);
    }
    if (req.method === "PUT") {
      const bytes = await body();
      this.manifests.set(`${repo}:${ref}`, bytes);
      this.manifests.set(`${repo}:${digestOf(bytes)}`, bytes);
      return void res.writeHead(201, { "docker-content-digest": digestOf(bytes) }).end();
    }
    const manifest = this.manifests.get(`${repo}:${ref}`);
    if (!manifest) return void res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json", "docker-content-digest": digestOf(manifest) }).end(manifest);
  }
}

function imageConfig(layers: { digest: Digest }[], pypakr = true): ImageConfig {
  const config = {
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers" as const, diff_ids: layers.map((layer) => layer.digest) },
    pypakr: {
      formatVersion: 2 as const,
      python: { implementation: "cpython", version: "3.11.7", abiFlags: "", soabi: "cpython-311-x86_64-linux-gnu", os: "linux", machine: "x86_64", libc: "glibc", libcVersion: "2.36" },
      base: { kind: "cpython-3.11-linux-x86_64", manifestDigest: `sha256:${"0".repeat(64)}` },
      entrypoint: ["./run"],
      environment: {},
      distributions: [],
      relocation: { placeholder: "/placeholder-for-tests-only", files: [] },
      created: "1970-01-01T00:00:00Z",
    },
  };
  if (!pypakr) delete (config as Partial<typeof config>).pypakr;
  return config;
}

/**
 * A tar+gzip layer of exactly `size` bytes (at least 21) with random content: a tar of one random
 * file, stored uncompressed, padded to the size with a gzip header comment. Layers must be real
 * tars, since load and pull check every layer's entries before the store keeps them.
 */
function layerOf(size: number): Buffer {
  const bodySize = size - 2200;
  const tar = bodySize > 0 ? tarOf([{ name: "f", body: randomBytes(bodySize) }]) : Buffer.alloc(0);
  const gz = gzipSync(tar, { level: 0 });
  const pad = size - gz.length - 1;
  if (pad < 0) throw new Error(`no layer of ${size} bytes`);
  gz[3] = (gz[3] ?? 0) | 0x10; // FCOMMENT
  return Buffer.concat([gz.subarray(0, 10), Buffer.alloc(pad, 0x78), Buffer.alloc(1), gz.subarray(10)]);
}

/** A synthetic image (layers of random content: push and pull never unpack them) written as an archive. */
export async function makeImage(dir: string, layerSizes: number[], options: { pypakr?: boolean } = {}): Promise<{ file: string; digest: Digest; layers: Buffer[] }> {
  const layers = layerSizes.map((size) => layerOf(size));
  const written = layers.map((bytes): WrittenLayer => ({ digest: digestOf(bytes), size: bytes.length, file: "", diffId: digestOf(bytes), mediaType: MEDIA_TYPE_LAYER_GZIP }));
  const { configBytes, manifestBytes, manifest } = imageDocuments(imageConfig(written, options.pypakr ?? true), written);
  const digest = digestOf(manifestBytes);
  const file = path.join(dir, `image-${digest.slice(7, 15)}.tar`);
  await writeBlobsArchive(file, digest, [{ digest, bytes: manifestBytes }, { digest: manifest.config.digest, bytes: configBytes }, ...layers.map((bytes) => ({ digest: digestOf(bytes), bytes }))]);
  return { file, digest, layers };
}
