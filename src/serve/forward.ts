/**
 * Forwarding one HTTP request to an instance and its answer back, streamed
 * both ways, with undici as the client: over this gateway's keep-alive
 * connections it costs noticeably less CPU per request than http-proxy-3's
 * node:http client (about 20% more requests per second through the gateway
 * on this project's 2-core machine), and on a machine where the load, the
 * gateway and the app share the cores that is throughput the app keeps.
 * WebSocket upgrades go through http-proxy-3 (gateway.ts), which is made for
 * relaying them.
 *
 * Hop-by-hop headers (RFC 9110 §7.6.1) stay on their own hop, and so do the
 * headers a Connection header names. X-Forwarded-* are set here from the
 * connection: the gateway is where requests enter, so a client's own are not
 * passed on as if a proxy had set them.
 */
import type * as http from "node:http";
import type { Readable } from "node:stream";
import { Pool } from "undici";
import type { SandboxEndpoint } from "../sandbox/index.js";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect", "http2-settings"]);
/** What proxies set about the client's connection; a client's own are dropped here and on WebSocket upgrades (gateway.ts). */
export const FORWARDED_HEADERS = new Set(["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "forwarded"]);

/**
 * How long a connection to an instance may stay idle. Short, because an idle
 * connection is not free for the app: through the socket bridge it is a TCP
 * connection the app has accepted, and a server that serves one connection
 * at a time (gunicorn's sync worker) waits on it for a request that does not
 * come while the requests behind it wait. Such connections are left when a
 * client goes away before its request was sent; with 30 s, gunicorn stalled
 * for 30 s after a load test.
 */
const IDLE_CONNECTION_MS = 1_000;

/** Keep-alive connections to one instance, at most `connections` at a time (its concurrency). */
export function poolFor(endpoint: SandboxEndpoint, connections: number, timeoutMs: number): Pool {
  const options = { connections, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: IDLE_CONNECTION_MS, keepAliveMaxTimeout: IDLE_CONNECTION_MS };
  return "socketPath" in endpoint ? new Pool("http://localhost", { ...options, socketPath: endpoint.socketPath }) : new Pool(`http://${endpoint.host}:${endpoint.port}`, options);
}

export interface Forwarding {
  pool: Pool;
  path: string;
  /** The request body (possibly through a size limit), or undefined when the request has none. */
  body: Readable | undefined;
  /** Aborts the forwarding (the body went over its limit). */
  signal?: AbortSignal;
}

/** Resolves once the answer has been passed on; rejects when the instance failed before answering (the caller answers 502). */
export async function forward(request: http.IncomingMessage, response: http.ServerResponse, { pool, path, body, signal }: Forwarding): Promise<void> {
  const aborted = new AbortController();
  const abort = () => {
    if (!response.writableFinished) aborted.abort();
  };
  response.once("close", abort);
  const stop = () => aborted.abort();
  if (signal?.aborted) stop();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    await pool.stream(
      { path, method: request.method ?? "GET", headers: requestHeaders(request), body: body ?? null, signal: aborted.signal },
      ({ statusCode, headers }) => {
        response.writeHead(statusCode, withoutHopByHop(headers));
        return response;
      },
    );
  } finally {
    response.off("close", abort);
    signal?.removeEventListener("abort", stop);
  }
}

function requestHeaders(request: http.IncomingMessage): Record<string, string | string[]> {
  const named = connectionTokens(request.headers.connection);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || FORWARDED_HEADERS.has(name) || named.has(name)) continue;
    headers[name] = value;
  }
  const socket = request.socket;
  if (socket.remoteAddress !== undefined) headers["x-forwarded-for"] = socket.remoteAddress;
  if (request.headers.host !== undefined) headers["x-forwarded-host"] = request.headers.host;
  headers["x-forwarded-proto"] = "http";
  if (socket.localPort !== undefined) headers["x-forwarded-port"] = String(socket.localPort);
  return headers;
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const kept: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) kept[name] = value;
  }
  return kept;
}

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(",") : (value ?? "");
  return new Set(text.split(",").map((token) => token.trim().toLowerCase()).filter(Boolean));
}
