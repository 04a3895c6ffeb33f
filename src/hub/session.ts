/**
 * Admin sessions and CSRF protection, by hand (40 lines need no package):
 * the login form takes the admin token once and sets an HttpOnly,
 * SameSite=Strict cookie holding a random session id (kept in memory: a
 * restart logs everyone out); every admin form carries a token that is an
 * HMAC of that id under a secret of this process (a synchronizer token that
 * needs no storage), compared in constant time. A POST is refused, too, when
 * the browser says it comes from another site (Sec-Fetch-Site) or another
 * origin (Origin): a second wall for browsers that send them.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const SESSION_COOKIE = "pypakr_hub_session";
/** An admin stays logged in this long after logging in. */
export const SESSION_LIFETIME_MS = 12 * 3_600_000;
/** At most this many sessions at once: logging in again past it ends the oldest. */
const MAX_SESSIONS = 1000;

export class Sessions {
  private readonly secret = randomBytes(32);
  /** session id → when it expires (ms since the epoch), oldest first. */
  private readonly sessions = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A new session's id, for the cookie. */
  create(): string {
    const id = randomBytes(32).toString("base64url");
    this.sessions.set(id, this.now() + SESSION_LIFETIME_MS);
    while (this.sessions.size > MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    return id;
  }

  /** The request's session id when its cookie names a live session, else null. */
  current(request: IncomingMessage): string | null {
    const id = cookie(request, SESSION_COOKIE);
    if (id === null) return null;
    const expires = this.sessions.get(id);
    if (expires === undefined) return null;
    if (expires <= this.now()) {
      this.sessions.delete(id);
      return null;
    }
    return id;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** The CSRF token the forms of this session carry. */
  csrfToken(session: string): string {
    return createHmac("sha256", this.secret).update(`csrf:${session}`).digest("base64url");
  }

  csrfValid(session: string, token: unknown): boolean {
    return typeof token === "string" && sameSecret(this.csrfToken(session), token);
  }
}

/** Set-Cookie for a new session (Secure when the hub is reached over https). */
export function sessionCookie(id: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_LIFETIME_MS / 1000}${secure ? "; Secure" : ""}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? "; Secure" : ""}`;
}

/** A cookie's value from the request's Cookie header, or null. */
export function cookie(request: IncomingMessage, name: string): string | null {
  const header = request.headers.cookie;
  if (header === undefined) return null;
  for (const part of header.split(";")) {
    const equals = part.indexOf("=");
    if (equals > 0 && part.slice(0, equals).trim() === name) return part.slice(equals + 1).trim();
  }
  return null;
}

/**
 * Why a state-changing browser request must be refused as cross-site, or
 * null: Sec-Fetch-Site, when sent, must say same-origin; Origin, when sent,
 * must name the host the request was sent to (either scheme: a proxy in
 * front may end TLS).
 */
export function crossSiteProblem(request: IncomingMessage): string | null {
  const site = request.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin") return `the browser says the request came from ${site === "same-site" ? "another site of the same domain" : "another site"} (Sec-Fetch-Site: ${site.slice(0, 40)})`;
  const origin = request.headers.origin;
  if (origin !== undefined) {
    let host: string | null;
    try {
      const url = new URL(origin);
      host = url.protocol === "http:" || url.protocol === "https:" ? url.host : null;
    } catch {
      host = null;
    }
    if (host === null || host !== (request.headers.host ?? "").toLowerCase()) return `the request came from another origin (Origin: ${origin.slice(0, 200)})`;
  }
  return null;
}

/**
 * Two secrets compared in constant time, whatever their lengths (each is
 * hashed first, so neither its length nor a prefix leaks through timing).
 */
export function sameSecret(expected: string, given: string): boolean {
  const a = createHash("sha256").update(expected).digest();
  const b = createHash("sha256").update(given).digest();
  return timingSafeEqual(a, b) && expected.length === given.length;
}
