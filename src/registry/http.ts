/**
 * The transport under the registry client: one undici Agent (so --ca-file and
 * connection reuse apply to every host a registry sends us to), redirects
 * followed by hand, and retries as a policy (the shape of oras-go's
 * retry/policy.go): connection failures, 408, 429 and 5xx are retried with
 * exponential backoff and jitter, and a Retry-After is honoured.
 *
 * Redirects are followed here rather than by an undici interceptor because a
 * blob GET is usually sent on to a storage host (S3 and the like) that must
 * not see the registry's Authorization header, and that only this code knows.
 *
 * Where pypakr may go, and where credentials may go, is decided here and only
 * here (checkUrl, isRegistryOrigin, and the hop loop in `follow` that asks
 * both before each request leaves): every URL, whether the registry's own, an
 * absolute upload Location, a redirect target or a token realm, passes the
 * same two rules.
 */
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import type { Agent, Dispatcher } from "undici";
import { describe, isErrno, PypakrError } from "../util/errors.js";
import { readLimited } from "../util/read-limited.js";
import { isLoopback } from "./reference.js";
import { scrub } from "./secrets.js";
import { apiHost } from "./reference.js";

export interface TransportOptions {
  /** Plain HTTP for a registry that is not on loopback (loopback gets it anyway). */
  insecure?: boolean;
  /** A PEM file of CA certificates to trust for HTTPS (a private registry's CA); implies HTTPS, even on loopback. */
  caFile?: string;
  /** HTTPS even to a loopback registry (an address written https://). */
  https?: boolean;
  retry?: Partial<RetryPolicy>;
  maxRedirects?: number;
}

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A longer Retry-After is cut to this: pypakr would rather fail than hang. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8_000, maxRetryAfterMs: 60_000 };

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_ERRORS = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** The Node or undici code of a network error, looking through causes (undici wraps socket errors). */
export function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

export function isRetryableError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && RETRY_ERRORS.has(code);
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * How long to wait before the next try after `attempt` (1-based) failed, or
 * null to give up: the answer for one outcome, a status or an error.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, outcome: { status?: number; retryAfter?: string; error?: unknown }, random = Math.random): number | null {
  if (attempt >= policy.attempts) return null;
  if (outcome.status !== undefined ? !RETRY_STATUSES.has(outcome.status) : !isRetryableError(outcome.error)) return null;
  const asked = outcome.status === 429 || outcome.status === 503 ? parseRetryAfter(outcome.retryAfter) : undefined;
  if (asked !== undefined) return Math.min(asked, policy.maxRetryAfterMs);
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // "Full jitter" halved: spreads clients that failed together, never waits less than half.
  return Math.round(backoff / 2 + (random() * backoff) / 2);
}

export interface HttpRequest {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: URL;
  headers?: Record<string, string>;
  /** Makes the body afresh for each try (a stream can be read only once). */
  body?: () => Buffer | Readable;
  /** Network errors are retried only for requests that are safe to send twice. */
  idempotent?: boolean;
  /**
   * The origin (scheme://host:port) the request's Authorization header is
   * for: the registry's by default; a token request names its realm's. The
   * header is never sent anywhere else: not when the URL itself is
   * elsewhere, and not after a redirect elsewhere (it is dropped for good).
   */
  credentialsFor?: string;
  /** The body is itself a secret (an identity token's form): a redirect to another origin is refused, not followed with it. */
  secretBody?: boolean;
}

export interface HttpResponse {
  status: number;
  /** Lowercased names. */
  headers: Record<string, string | undefined>;
  /** Where the response came from, after redirects. */
  url: URL;
  body: Dispatcher.ResponseData["body"];
}

function flattenHeaders(headers: Dispatcher.ResponseData["headers"]): Record<string, string | undefined> {
  const result: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) result[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  return result;
}

const MAX_DISPLAYED_PATH = 120;

/**
 * A URL for messages: host and path, without the query (which may carry an
 * upload's state or a signature) and cut short, since the path may come from
 * a hostile Location header. The URL parser has already percent-encoded
 * spaces, quotes and control characters in it.
 */
export function displayUrl(url: URL): string {
  const path = url.pathname.length > MAX_DISPLAYED_PATH ? `${url.pathname.slice(0, MAX_DISPLAYED_PATH)}...` : url.pathname;
  return `${url.host}${path}`;
}

export class Transport {
  readonly baseUrl: URL;
  /**
   * Loaded on first use: undici is most of the CLI's code, and every command
   * that may pull (create-container, run -i) imports this module whether or
   * not it ever sends a request.
   */
  private agent: Promise<Agent> | undefined;
  private readonly ca: string | undefined;
  /** How requests are retried; also the policy for whole transfers a request's retries cannot cover (withRetries). */
  readonly policy: RetryPolicy;
  private readonly maxRedirects: number;

  constructor(
    readonly registry: string,
    readonly options: TransportOptions = {},
  ) {
    const https = options.https === true || options.caFile !== undefined || !(options.insecure || isLoopback(registry));
    // docker.io/library/python:3.11-slim, as Docker users write it, is served by Docker Hub's API host.
    this.baseUrl = new URL(`${https ? "https" : "http"}://${apiHost(registry)}/`);
    let ca: string | undefined;
    if (options.caFile) {
      try {
        ca = readFileSync(options.caFile, "utf8");
      } catch (error) {
        throw new PypakrError(`cannot read the CA file ${options.caFile}: ${isErrno(error, "ENOENT") ? "it does not exist" : describe(error)}`, { code: "bad-config", hint: "Pass --ca-file the PEM file of your registry's certificate authority." });
      }
    }
    this.ca = ca;
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.maxRedirects = options.maxRedirects ?? 10;
  }

  /** A path on the registry (callers build them from checked repository names, tags and digests). */
  url(path: string): URL {
    const url = new URL(path, this.baseUrl);
    if (!this.isRegistryOrigin(url)) throw new Error(`not a path on registry ${this.registry}: ${path}`);
    return url;
  }

  /**
   * Whether `url` is on the registry's own origin (scheme, host and port, as
   * the user named it): the only place the registry's credentials and tokens
   * go, besides the token realm the registry's own challenge names.
   */
  isRegistryOrigin(url: URL): boolean {
    return url.origin === this.baseUrl.origin;
  }

  /**
   * Throws, before anything is sent, unless pypakr may send a request to
   * `url` at all: http or https only (not file:, data:, ftp: and the like),
   * and plain HTTP only to loopback or with --insecure, so no request (and
   * no credential, blob or token) crosses a network in clear text unless the
   * user said so. `how` says how the URL came ("redirects pypakr to", ...).
   */
  checkUrl(url: URL, how: string): void {
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      // Only the scheme is shown: the rest of a data: or file: URL is not an address worth printing.
      throw new PypakrError(`registry ${this.registry} ${how} an unsupported kind of address (${url.protocol})`, { code: "unsafe-transport", hint: "pypakr follows only http and https addresses; tell the registry's operator." });
    }
    if (url.protocol === "http:" && !isLoopback(url.host) && !this.options.insecure) {
      throw new PypakrError(`registry ${this.registry} ${how} ${displayUrl(url)} over plain HTTP, which pypakr speaks only to loopback (localhost, 127.0.0.0/8, [::1])`, {
        code: "unsafe-transport",
        hint: "Nothing was sent there. Pass --insecure only if you trust the network to that host; otherwise tell the registry's operator.",
      });
    }
  }

  private dispatcher(): Promise<Agent> {
    const ca = this.ca;
    this.agent ??= import("./agent.js").then(({ newAgent }) => newAgent(ca));
    return this.agent;
  }

  async close(): Promise<void> {
    await (await this.agent)?.close();
  }

  /** Sends with retries; answers every status (callers decide what is an error), throws when the network fails for good. */
  async send(request: HttpRequest): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse;
      try {
        response = await this.follow(request);
      } catch (error) {
        const idempotent = request.idempotent ?? (request.method === "GET" || request.method === "HEAD");
        const delay = idempotent ? retryDelay(this.policy, attempt, { error }) : null;
        if (delay === null) throw this.networkError(request, error);
        await sleep(delay);
        continue;
      }
      const delay = retryDelay(this.policy, attempt, { status: response.status, retryAfter: response.headers["retry-after"] });
      if (delay === null) return response;
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      await sleep(delay);
    }
  }

  private networkError(request: HttpRequest, error: unknown): unknown {
    if (error instanceof PypakrError) return error;
    const code = errorCode(error);
    const tls = code !== undefined && /CERT|SSL|TLS|SELF_SIGNED/.test(code);
    return new PypakrError(`cannot reach registry ${this.registry} (${request.method} ${displayUrl(request.url)}): ${scrub(describe(error))}${code && !describe(error).includes(code) ? ` (${code})` : ""}`, {
      code: "registry-unreachable",
      hint: tls
        ? "Pass --ca-file with your registry's CA certificate (PEM), or --insecure for a registry that speaks plain HTTP."
        : this.baseUrl.protocol === "https:"
          ? "Check that the registry runs and the address is right; a registry that speaks plain HTTP needs --insecure."
          : "Check that the registry runs and the address and port are right.",
      cause: error,
    });
  }

  /** One try, following redirects up to the limit; each hop is checked before it is sent. */
  private async follow(request: HttpRequest): Promise<HttpResponse> {
    let { method, url } = request;
    const headers = { ...request.headers };
    const owner = request.credentialsFor ?? this.baseUrl.origin;
    const seen = new Set<string>();
    for (let hops = 0; ; hops++) {
      this.checkUrl(url, hops === 0 ? "sends pypakr to" : "redirects pypakr to");
      // Credentials are for their own origin alone: a storage or upload host gets a signed URL instead.
      // Dropped for good: a host that was not trusted with them may not send us back to collect them.
      if (url.origin !== owner) {
        delete headers.authorization;
        if (request.secretBody) {
          throw new PypakrError(`the token service of registry ${this.registry} redirected pypakr to ${displayUrl(url)}, another host, with a secret`, { code: "unsafe-transport", hint: "pypakr sends an identity token only to the token service the registry names; tell the registry's operator." });
        }
      }
      const data = await (await this.dispatcher()).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        body: request.body && method !== "GET" && method !== "HEAD" ? request.body() : null,
      });
      const response: HttpResponse = { status: data.statusCode, headers: flattenHeaders(data.headers), url, body: data.body };
      const location = response.headers.location;
      if (![301, 302, 303, 307, 308].includes(response.status) || !location) return response;
      await data.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      seen.add(`${method} ${url.href}`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new PypakrError(`registry ${this.registry} redirected ${request.method} ${displayUrl(request.url)} to something that is not a URL`, { code: "registry-misbehaved", hint: "The registry or the storage behind it is misconfigured; tell its operator." });
      }
      if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === "POST")) method = "GET";
      if (seen.has(`${method} ${next.href}`)) {
        throw new PypakrError(`registry ${this.registry} redirects in a loop (${request.method} ${displayUrl(request.url)} comes back to ${displayUrl(next)})`, { code: "registry-misbehaved", hint: "The registry or the storage behind it is misconfigured; tell its operator." });
      }
      if (hops + 1 > this.maxRedirects) {
        throw new PypakrError(`registry ${this.registry} redirected ${request.method} ${displayUrl(request.url)} more than ${this.maxRedirects} times`, { code: "registry-misbehaved", hint: "The registry or the storage behind it is misconfigured; tell its operator." });
      }
      url = next;
    }
  }
}

/**
 * Runs `work` until it succeeds or `policy` gives up on the error that
 * `causeOf` finds in its failure (see retryDelay): the one retry loop for work
 * bigger than one request, such as a blob download that resumes or an upload
 * that starts a fresh session.
 */
export async function withRetries<T>(policy: RetryPolicy, work: (attempt: number) => Promise<T>, causeOf: (error: unknown) => unknown = (error) => error): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      const delay = retryDelay(policy, attempt, { error: causeOf(error) });
      if (delay === null) throw error;
      await sleep(delay);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Stops reading a response; undici then reports the abort as an error, which nobody is left to hear (unheard, it would crash the process). */
export function dropBody(response: HttpResponse): void {
  response.body.on("error", () => undefined).destroy();
}

/** Reads a whole (small) body, refusing one longer than `limit`: a registry's answer must not fill memory. */
export async function readBody(response: HttpResponse, limit: number, what: string): Promise<Buffer> {
  return readLimited(response.body as AsyncIterable<Buffer>, limit, () => {
    dropBody(response);
    return new PypakrError(`the registry sent more than ${limit} bytes for ${what}`, { code: "too-large", hint: "The registry misbehaves; tell its operator." });
  });
}
