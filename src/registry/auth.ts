/**
 * Registry authentication, as the distribution spec and Docker do it: a
 * request goes out without credentials (or with what an earlier challenge
 * earned); a 401 carries `WWW-Authenticate`, either `Basic` (send the
 * credentials on each request) or `Bearer realm=... service=... scope=...`
 * (trade the credentials, or nothing, for a token at the realm, per scope).
 * Tokens are cached per scope until they expire.
 */
import * as z from "zod";
import { PypakrError } from "../util/errors.js";
import { parseJson } from "../util/json.js";
import { shellWord, show } from "../util/printable.js";
import type { Credentials } from "./credentials.js";
import { IDENTITY_TOKEN_USER } from "./credentials.js";
import { displayUrl, readBody, type Transport } from "./http.js";
import { registerSecret } from "./secrets.js";

export interface Challenge {
  /** Lowercased: "basic", "bearer". */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header (RFC 9110 §11.6.1): one or more
 * challenges, each a scheme then comma-separated name=value parameters
 * (values bare or quoted with backslash escapes), the challenges themselves
 * also separated by commas.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skip = (pattern: RegExp) => {
    while (i < header.length && pattern.test(header[i] ?? "")) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < header.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i] ?? "")) i++;
    return header.slice(start, i);
  };
  while (i < header.length) {
    skip(/[\s,]/);
    const scheme = token();
    if (!scheme) {
      i++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      skip(/[\s,]/);
      const start = i;
      const name = token();
      if (!name) break;
      let after = i;
      while (after < header.length && /\s/.test(header[after] ?? "")) after++;
      if (header[after] !== "=") {
        // Not a parameter but the next challenge's scheme.
        i = start;
        break;
      }
      i = after;
      i++;
      skip(/\s/);
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < header.length && header[i] !== '"') {
          if (header[i] === "\\") i++;
          value += header[i] ?? "";
          i++;
        }
        i++;
      } else {
        const valueStart = i;
        while (i < header.length && header[i] !== "," && !/\s/.test(header[i] ?? "")) i++;
        value = header.slice(valueStart, i);
      }
      challenge.params[name.toLowerCase()] = value;
    }
  }
  return challenges;
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/** Deleting a manifest (Docker's token spec names the action "delete"). */
export function deleteScope(repository: string): string {
  return `repository:${repository}:delete`;
}

function basicHeader(credentials: Credentials): string {
  const value = `Basic ${Buffer.from(`${credentials.username}:${credentials.secret}`).toString("base64")}`;
  registerSecret(value.slice(6));
  return value;
}

const MAX_TOKEN_RESPONSE = 1024 * 1024;
/** A token rides in every request's Authorization header: far past what any server takes there. */
const MAX_TOKEN_CHARS = 64 * 1024;

/**
 * A token service's answer (Docker's token spec; OAuth2's for the refresh
 * form). null is accepted where Docker's client takes it for "absent"; other
 * fields are ignored. A token must be something a header can carry, or it
 * would fail deep in the HTTP client (or forge a header).
 */
const headerToken = z
  .string()
  .max(MAX_TOKEN_CHARS)
  .regex(/^[\x21-\x7e]*$/, "holds characters an HTTP header cannot carry");
const tokenAnswerSchema = z.object({
  token: headerToken.nullish(),
  access_token: headerToken.nullish(),
  expires_in: z.number().finite().nullish(),
  issued_at: z.string().max(100).nullish(),
  refresh_token: z.string().max(MAX_TOKEN_CHARS).nullish(),
});

/** Learns how a registry wants to be authenticated and hands out Authorization values per scope. */
export class Authorizer {
  private scheme: "none" | "basic" | "bearer" = "none";
  private bearer: Record<string, string> = {};
  private readonly tokens = new Map<string, { value: string; expires: number }>();
  private credentialsLoaded = false;
  private credentials: Credentials | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly loadCredentials: () => Promise<Credentials | null>,
  ) {}

  private async creds(): Promise<Credentials | null> {
    if (!this.credentialsLoaded) {
      this.credentials = await this.loadCredentials();
      this.credentialsLoaded = true;
    }
    return this.credentials;
  }

  /** The Authorization value for `scopes` when one is already known (no network). */
  cached(scopes: string[]): string | undefined {
    if (this.scheme === "basic" && this.credentials) return basicHeader(this.credentials);
    if (this.scheme !== "bearer") return undefined;
    const token = this.tokens.get(scopes.join(" "));
    return token && token.expires > Date.now() ? `Bearer ${token.value}` : undefined;
  }

  /** Answers a 401: learns the challenge, gets what it asks for, and returns the Authorization value to retry with. */
  async answer(header: string | undefined, scopes: string[]): Promise<string> {
    const registry = this.transport.registry;
    const challenges = parseChallenges(header ?? "");
    const bearer = challenges.find((challenge) => challenge.scheme === "bearer");
    const basic = challenges.find((challenge) => challenge.scheme === "basic");
    const credentials = await this.creds();
    if (bearer) {
      this.scheme = "bearer";
      this.bearer = bearer.params;
      // A challenge may name the scope the registry wants; ask for ours and that one.
      const wanted = bearer.params.scope ? [...new Set([...scopes, ...bearer.params.scope.split(" ")])] : scopes;
      const value = await this.fetchToken(wanted, credentials);
      this.tokens.set(scopes.join(" "), value);
      return `Bearer ${value.value}`;
    }
    if (basic) {
      if (!credentials) throw loginNeeded(registry);
      this.scheme = "basic";
      return basicHeader(credentials);
    }
    throw new PypakrError(`registry ${registry} asks for authentication pypakr does not know (${challenges.map((c) => c.scheme).join(", ") || "no WWW-Authenticate challenge"})`, {
      code: "registry-misbehaved",
      hint: "pypakr speaks Basic and Bearer token authentication, as Docker does.",
    });
  }

  private async fetchToken(scopes: string[], credentials: Credentials | null): Promise<{ value: string; expires: number }> {
    const registry = this.transport.registry;
    const realm = this.bearer.realm;
    let url: URL;
    try {
      url = new URL(realm ?? "");
    } catch {
      throw new PypakrError(`registry ${registry} sent a Bearer challenge without a usable realm`, { code: "registry-misbehaved", hint: "The registry is misconfigured; tell its operator." });
    }
    // Checked whether or not there are credentials: even an anonymous token request must not go
    // in clear text across a network, nor to a file: or data: address. Transport.send checks again.
    this.transport.checkUrl(url, "names as its token service");
    const service = this.bearer.service;
    const headers: Record<string, string> = { accept: "application/json" };
    // The realm the registry's own challenge names is the one place besides the registry that
    // may see the credentials (RegistryClient.fetch answers only the registry's challenges).
    const toRealm = { credentialsFor: url.origin };
    let response;
    if (credentials?.username === IDENTITY_TOKEN_USER) {
      // An identity token is a refresh token: OAuth2 form POST, so it never sits in a URL.
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: credentials.secret, client_id: "pypakr", ...(service ? { service } : {}) });
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      response = await this.transport.send({ method: "POST", url, headers: { ...headers, "content-type": "application/x-www-form-urlencoded" }, body: () => Buffer.from(form.toString()), idempotent: true, secretBody: true, ...toRealm });
    } else {
      if (service) url.searchParams.set("service", service);
      for (const scope of scopes) url.searchParams.append("scope", scope);
      if (credentials) headers.authorization = basicHeader(credentials);
      response = await this.transport.send({ method: "GET", url, headers, ...toRealm });
    }
    const body = await readBody(response, MAX_TOKEN_RESPONSE, "a token");
    // The realm sent pypakr on to another host, which got no credentials: its refusal is not the login's.
    if ((response.status === 401 || response.status === 403) && response.url.origin !== url.origin) throw credentialsRefusedElsewhere(registry, response.url);
    if (response.status === 401 || response.status === 403) {
      throw credentials ? new PypakrError(`registry ${registry} refused the stored login for ${credentials.username === IDENTITY_TOKEN_USER ? "its identity token" : `user ${show(credentials.username)}`}`, { code: "registry-login-refused", hint: `Log in again: pypakr login ${shellWord(registry)}` }) : loginNeeded(registry);
    }
    if (response.status !== 200) throw new PypakrError(`the token service of registry ${registry} (${url.host}) answered HTTP ${response.status}`, { code: "registry-failed", hint: "Try again later; if it persists, tell the registry's operator." });
    const parsed = parseJson(body.toString("utf8"), tokenAnswerSchema, "a token answer", {
      code: "registry-misbehaved",
      message: (detail) => `the token service of registry ${registry} sent an answer pypakr cannot use (${detail})`,
      hint: "Tell the registry's operator.",
    });
    const value = parsed.token || parsed.access_token;
    if (!value) throw new PypakrError(`the token service of registry ${registry} sent no token`, { code: "registry-misbehaved", hint: "Tell the registry's operator." });
    registerSecret(value);
    // The spec's default lifetime is 60 s; renew a little early.
    const seconds = parsed.expires_in && parsed.expires_in > 0 ? parsed.expires_in : 60;
    return { value, expires: Date.now() + Math.max(1, seconds - 10) * 1000 };
  }
}

/**
 * A host other than the registry (a storage or upload host the registry sent
 * pypakr to, or where a token realm redirected) asked for credentials. They
 * are not for it: Docker sends none there either, and a registry that serves
 * blobs from elsewhere gives URLs that need none (S3's signed URLs).
 */
export function credentialsRefusedElsewhere(registry: string, url: URL): PypakrError {
  return new PypakrError(`${url.origin} asked for credentials (at ${displayUrl(url)}), and pypakr sends credentials only to registry ${registry} and the token service it names`, {
    code: "unsafe-transport",
    hint: "The registry sent pypakr to that host (an upload location or a redirect); it should give a URL that needs no login there. Tell the registry's operator.",
  });
}

export function loginNeeded(registry: string): PypakrError {
  return new PypakrError(`registry ${registry} requires a login`, { code: "registry-login-required", hint: `Log in with: pypakr login ${shellWord(registry)}` });
}
