/**
 * `pypakr serve`: the HTTP front of the gateway. It routes each request to
 * its app, takes a slot on one of the app's instances (which may mean
 * starting one, or waiting in the app's queue), and proxies the request with
 * http-proxy-3 over keep-alive connections to that instance, streaming both
 * bodies. WebSocket upgrades go the same way. SIGTERM or SIGINT: stop
 * accepting, let requests in flight finish (bounded by the drain timeout),
 * stop every instance, exit 0.
 */
import * as fs from "node:fs/promises";
import * as http from "node:http";
import { Socket } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { ProxyServer } from "http-proxy-3";
import type { Config } from "../config/index.js";
import { detectSandbox, type SandboxEndpoint } from "../sandbox/index.js";
import type { Digest } from "../util/hash.js";
import { PypakrError } from "../util/errors.js";
import { progress, writeErr } from "../util/log.js";
import { printableLine } from "../util/printable.js";
import { AppPool, Unavailable } from "./app.js";
import type { Instance } from "./instance.js";
import { FORWARDED_HEADERS, forward } from "./forward.js";
import { compileBytecode, prepareContainer, resolveImage, type PreparedContainer } from "./prepare.js";
import { Router, stripPrefix } from "./router.js";
import { metricsText, statusDocument } from "./status.js";
import type { GatewaySettings } from "./types.js";

/** Where the gateway answers for itself; no app is routed below it. */
const OWN_PREFIX = "/_pypakr/";
/** Apps run as these uids when the gateway is root: one per app, so a per-uid limit (RLIMIT_NPROC) is per app. */
const FIRST_APP_UID = 100_000;
/** A request line's path is cut to this length in the log. */
const LOGGED_PATH = 200;

/** Runs the gateway until SIGTERM or SIGINT; resolves with the exit code once everything has stopped. */
export async function startGateway(config: Config, settings: GatewaySettings): Promise<number> {
  const support = await detectSandbox();
  for (const warning of support.warnings) writeErr(`pypakr serve: warning: ${warning}\n`);
  const digests = new Map<string, Digest>();
  for (const app of settings.apps) digests.set(app.name, await resolveImage(config, app.image, { insecure: settings.insecure, ...(settings.caFile !== undefined ? { caFile: settings.caFile } : {}) }));

  const runtimeRoot = await fs.mkdtemp(path.join(os.tmpdir(), "pypakr-serve-"));
  const containers = new Map<Digest, Promise<PreparedContainer>>();
  const containerFor = (digest: Digest) => {
    let made = containers.get(digest);
    if (made === undefined) {
      made = prepareContainer(config, digest);
      // A failure is not kept: the next request tries again.
      made.catch(() => containers.delete(digest));
      containers.set(digest, made);
    }
    return made;
  };
  const compiled = new Set<Digest>();
  const compileOnce = (digest: Digest) => {
    if (compiled.has(digest)) return;
    compiled.add(digest);
    void containerFor(digest).then((container) => compileBytecode(container));
  };
  let instanceCount = 0;
  const apps: AppPool[] = [];
  for (const [index, app] of settings.apps.entries()) {
    const uid = support.asRoot ? FIRST_APP_UID + index : undefined;
    apps.push(
      new AppPool(app, digests.get(app.name) as Digest, {
        support,
        runtimeRoot,
        containerFor,
        requestTimeoutMs: settings.requestTimeoutMs,
        nextInstanceId: (name) => `${name.replace(/[^a-z0-9-]/g, "-").slice(0, 24)}-${++instanceCount}`,
        compileOnce,
        ...(uid !== undefined ? { uid } : {}),
      }),
    );
  }
  const gateway = new Gateway(settings, apps);
  try {
    await gateway.listen();
  } catch (error) {
    await fs.rm(runtimeRoot, { recursive: true, force: true });
    throw error;
  }
  for (const app of apps) app.warmUp();
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      progress(`${signal}: draining (up to ${settings.drainTimeoutMs} ms), then stopping every instance`);
      void gateway.shutdown().then(resolve);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  await stopped;
  await fs.rm(runtimeRoot, { recursive: true, force: true });
  progress("stopped");
  return 0;
}

class Gateway {
  private readonly server: http.Server;
  private readonly proxy: ProxyServer;
  private readonly router: Router<AppPool>;
  private readonly startedAt = new Date();
  private readonly log = new RequestLog();
  private inFlight = 0;
  private drained: (() => void) | null = null;

  constructor(
    private readonly settings: GatewaySettings,
    private readonly apps: AppPool[],
  ) {
    this.router = new Router(apps);
    this.proxy = new ProxyServer({ xfwd: true, ws: true });
    // Without a listener of ours, http-proxy-3 throws the errors it emits (a client gone while the app answers its
    // upgrade: EPIPE), and that would end the gateway.
    this.proxy.on("error", (_error: Error, _request: http.IncomingMessage, socket: unknown) => {
      if (socket instanceof Socket) socket.destroy();
    });
    this.server = http.createServer({ headersTimeout: settings.headersTimeoutMs, requestTimeout: settings.requestTimeoutMs, keepAliveTimeout: 5_000 }, (request, response) => {
      void this.handle(request, response);
    });
    this.server.on("upgrade", (request: http.IncomingMessage, socket: Socket, head: Buffer) => {
      void this.upgrade(request, socket, head);
    });
  }

  listen(): Promise<void> {
    const { host, port } = this.settings.listen;
    return new Promise((resolve, reject) => {
      this.server.once("error", (error: NodeJS.ErrnoException) => {
        const hint = error.code === "EADDRINUSE" ? "Another program listens there: pick another address with --listen (or listen = in the config)." : "Check the --listen address: it must be an address of this machine.";
        reject(new PypakrError(`pypakr serve cannot listen on ${host}:${port}: ${error.code ?? error.message}`, { code: "serve-listen-failed", hint }));
      });
      this.server.listen(port, host, () => {
        const routes = this.apps.map((app) => `${app.settings.name} → ${app.settings.host ?? ""}${app.settings.path ?? ""}`).join(", ");
        progress(`listening on http://${host.includes(":") ? `[${host}]` : host}:${this.port()} (${routes})`);
        resolve();
      });
    });
  }

  private port(): number {
    const address = this.server.address();
    return typeof address === "object" && address !== null ? address.port : this.settings.listen.port;
  }

  /** Stops accepting, waits for requests in flight (at most the drain timeout), then stops every instance. */
  async shutdown(): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeIdleConnections();
    if (this.inFlight > 0) {
      const drained = new Promise<void>((resolve) => (this.drained = resolve));
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, this.settings.drainTimeoutMs).unref());
      await Promise.race([drained, timeout]);
    }
    this.server.closeAllConnections();
    await Promise.all(this.apps.map((app) => app.close()));
    await closed;
    this.log.flush();
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const began = performance.now();
    const url = request.url ?? "/";
    const pathname = url.split("?", 1)[0] ?? "/";
    if (pathname.startsWith(OWN_PREFIX)) return this.own(pathname, response);
    const app = this.router.match(request.headers.host, pathname);
    if (app === null) return plain(response, 404, "no app is routed here\n");
    const declared = Number(request.headers["content-length"] ?? 0);
    if (declared > this.settings.maxBodyBytes) return plain(response, 413, `request body larger than ${this.settings.maxBodyBytes} bytes\n`, { connection: "close" });

    this.inFlight += 1;
    // The slot is given back exactly once: when the answer ends, or at once if the client left while the request waited for it.
    let held: Instance | null = null;
    const letGo = () => {
      if (held !== null) app.release(held);
      held = null;
    };
    response.once("close", () => {
      letGo();
      const ms = performance.now() - began;
      app.stats.record(response.statusCode, ms);
      this.log.add(`pypakr serve: ${app.settings.name} ${response.statusCode} ${printableLine(request.method ?? "?")} ${printableLine(pathname.slice(0, LOGGED_PATH))} ${ms.toFixed(1)} ms\n`);
      this.inFlight -= 1;
      if (this.inFlight === 0) this.drained?.();
    });
    // The body waits in a bounded buffer (back-pressure pauses the client) while an instance is found, and is counted against the limit.
    // Over the limit, the forwarding is aborted and the body never errors: undici, seeing its body fail while the
    // answer streams, reports the failure twice and throws from a callback it has already used, ending the gateway.
    const tooLarge = new AbortController();
    const body = request.headers["content-length"] !== undefined || request.headers["transfer-encoding"] !== undefined ? request.pipe(new SizeLimit(this.settings.maxBodyBytes, () => tooLarge.abort())) : undefined;
    let instance: Instance;
    try {
      instance = await app.acquire();
    } catch (error) {
      if (error instanceof Unavailable) {
        writeErr(`pypakr serve: ${error.message}\n`);
        return plain(response, error.status, `${error.message}\n`, { "retry-after": String(error.retryAfterSeconds) });
      }
      throw error;
    }
    held = instance;
    if (response.destroyed) return letGo();
    const pool = instance.pool;
    if (pool === null) return plain(response, 502, "the instance has no endpoint\n");
    const path = app.settings.stripPrefix && app.settings.path !== undefined ? stripPrefix(url, app.settings.path) : url;
    try {
      await forward(request, response, { pool, path, body, signal: tooLarge.signal });
    } catch (error) {
      if (tooLarge.signal.aborted) return plain(response, 413, `request body larger than ${this.settings.maxBodyBytes} bytes\n`, { connection: "close" });
      if (response.destroyed) return;
      // The instance broke the connection (it crashed, or was killed at its limit) or did not answer in time.
      plain(response, 502, `app ${app.settings.name} did not answer: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }

  private async upgrade(request: http.IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const pathname = (request.url ?? "/").split("?", 1)[0] ?? "/";
    const app = this.router.match(request.headers.host, pathname);
    if (app === null) return void socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    let instance: Instance;
    try {
      instance = await app.acquire();
    } catch (error) {
      const status = error instanceof Unavailable ? error.status : 503;
      return void socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    }
    const taken = instance;
    const began = performance.now();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      app.release(taken);
      this.log.add(`pypakr serve: ${app.settings.name} 101 ${printableLine(request.method ?? "?")} ${printableLine(pathname.slice(0, LOGGED_PATH))} ${(performance.now() - began).toFixed(1)} ms (WebSocket closed)\n`);
    };
    socket.once("close", release);
    // The client may have left while the upgrade waited for a slot: its close has passed already.
    if (socket.destroyed) return release();
    if (taken.endpoint === null) return void socket.destroy();
    if (app.settings.stripPrefix && app.settings.path !== undefined) request.url = stripPrefix(request.url ?? "/", app.settings.path);
    dropForwardedHeaders(request);
    this.proxy.ws(request, socket, head, { target: targetOf(taken.endpoint) }, () => socket.destroy());
  }

  private own(pathname: string, response: http.ServerResponse): void {
    if (pathname === `${OWN_PREFIX}status`) {
      response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      return void response.end(JSON.stringify(statusDocument(this.apps, this.startedAt), null, 2) + "\n");
    }
    if (pathname === `${OWN_PREFIX}metrics`) {
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" });
      return void response.end(metricsText(this.apps));
    }
    plain(response, 404, "not a pypakr endpoint: /_pypakr/status or /_pypakr/metrics\n");
  }
}

/**
 * The gateway is where requests enter, so X-Forwarded-* headers a client
 * sends are not passed on as if a proxy had set them: for an upgrade,
 * http-proxy-3 then sets them from the connection itself (forward.ts does
 * the same for other requests).
 */
function dropForwardedHeaders(request: http.IncomingMessage): void {
  for (const name of FORWARDED_HEADERS) delete request.headers[name];
}

/** http-proxy-3 wants host and port even for a Unix socket target; they only fill the Host header's default, which is passed on unchanged. */
function targetOf(endpoint: SandboxEndpoint): { host: string; port: number; socketPath?: string } {
  return "socketPath" in endpoint ? { host: "localhost", port: 80, socketPath: endpoint.socketPath } : endpoint;
}

function plain(response: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (response.headersSent) return void response.destroy();
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  response.end(text);
}

/**
 * The request log: one line per request, written in batches (one write per
 * turn of the event loop) because stderr writes are synchronous system
 * calls, and under load one per request costs the gateway a noticeable share
 * of its CPU.
 */
class RequestLog {
  private lines: string[] = [];

  add(line: string): void {
    if (this.lines.push(line) === 1) setImmediate(() => this.flush());
  }

  flush(): void {
    if (this.lines.length === 0) return;
    const text = this.lines.join("");
    this.lines = [];
    writeErr(text);
  }
}

/**
 * Passes a request body through until it exceeds the limit (a chunked body has no length to check up front), then
 * drops the rest and calls `exceeded` once. It never emits 'error', not even when undici destroys it with one
 * (see handle()).
 */
class SizeLimit extends Transform {
  private seen = 0;
  constructor(
    private readonly limit: number,
    private readonly exceeded: () => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      // Dropped, not failed: the caller aborts the forwarding (see the body's comment in handle()).
      if (this.seen - chunk.length <= this.limit) this.exceeded();
      return callback();
    }
    callback(null, chunk);
  }
  override _destroy(_error: Error | null, callback: (error?: Error | null) => void): void {
    callback(null);
  }
}
