/**
 * Who may do what. Two secrets: the admin token (log in to the pages, or
 * `Authorization: Bearer` on the API's writes) and the events token (the
 * registry's notifications carry it). Each lives in a file of the data dir,
 * made 0600 with 32 random bytes on first start, unless an environment
 * variable gives it. With --private, every read needs an admin session, the
 * admin token, or Basic credentials the registry itself accepts (asked of
 * the registry, the verdict kept a minute under a hash of the header; the
 * header itself is never stored).
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import * as path from "node:path";
import { isErrno, PypakrError } from "../util/errors.js";
import { sameSecret, type Sessions } from "./session.js";

export const ADMIN_TOKEN_ENV = "PYPAKR_HUB_ADMIN_TOKEN";
export const EVENTS_TOKEN_ENV = "PYPAKR_HUB_EVENTS_TOKEN";
export const ADMIN_TOKEN_FILE = "admin-token";
export const EVENTS_TOKEN_FILE = "events-token";
/** A token shorter than this is refused: it could be guessed. */
const MIN_TOKEN_LENGTH = 16;
/** Printable ASCII without spaces: what an Authorization header and a form field carry unchanged. */
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;

export interface HubToken {
  value: string;
  /** The file it came from (or was written to); null when the environment gave it. */
  file: string | null;
}

/** The token from the environment variable, else its file in the data dir (made on first use). */
export async function loadToken(dataDir: string, fileName: string, envName: string, env: NodeJS.ProcessEnv): Promise<HubToken> {
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv !== "") return { value: checkToken(fromEnv, envName, `Set ${envName} to at least ${MIN_TOKEN_LENGTH} printable characters without spaces, or unset it to use the file.`), file: null };
  const file = path.join(dataDir, fileName);
  try {
    await fs.writeFile(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    if (!isErrno(error, "EEXIST")) throw new PypakrError(`cannot write the hub's token file ${file}: ${(error as Error).message}`, { code: "write-failed", hint: "Give the hub a data dir it can write (--data DIR)." });
  }
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    throw new PypakrError(`cannot read the hub's token file ${file}: ${(error as Error).message}`, { code: "bad-config", hint: "Make it readable by the hub, or delete it to have a new token made." });
  }
  return { value: checkToken(text.trim(), file, `Put at least ${MIN_TOKEN_LENGTH} printable characters without spaces in it, or delete it to have a new token made.`), file };
}

function checkToken(token: string, where: string, hint: string): string {
  if (token.length < MIN_TOKEN_LENGTH || !TOKEN_CHARACTERS.test(token)) throw new PypakrError(`the hub token in ${where} is not usable: it must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces`, { code: "bad-config", hint });
  return token;
}

/** The token of an `Authorization: Bearer TOKEN` header, or null. */
export function bearerToken(request: IncomingMessage): string | null {
  const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? "");
  return match?.[1] ?? null;
}

export function hasBearer(request: IncomingMessage, token: string): boolean {
  const given = bearerToken(request);
  return given !== null && sameSecret(token, given);
}

/** How long the registry's verdict on a Basic header is kept. */
const BASIC_VERDICT_MS = 60_000;
const MAX_VERDICTS = 1000;

/**
 * The read check of a --private hub: an admin session, the admin token as
 * Bearer, or Basic credentials the registry accepts.
 */
export class PrivateReads {
  private readonly verdicts = new Map<string, { allowed: boolean; until: number }>();

  constructor(
    private readonly adminToken: string,
    private readonly sessions: Sessions,
    private readonly registryAccepts: (authorization: string) => Promise<boolean>,
    private readonly now: () => number = Date.now,
  ) {}

  async allows(request: IncomingMessage): Promise<boolean> {
    if (this.sessions.current(request) !== null) return true;
    const authorization = request.headers.authorization;
    if (authorization === undefined) return false;
    if (hasBearer(request, this.adminToken)) return true;
    if (!/^Basic +[A-Za-z0-9+/=]{1,4096}$/i.test(authorization)) return false;
    const key = createHash("sha256").update(authorization).digest("base64");
    const known = this.verdicts.get(key);
    if (known !== undefined && known.until > this.now()) return known.allowed;
    let allowed: boolean;
    try {
      allowed = await this.registryAccepts(authorization);
    } catch {
      // The registry cannot say (down, or unreachable): refuse this time, and ask again next time.
      return false;
    }
    this.verdicts.delete(key);
    this.verdicts.set(key, { allowed, until: this.now() + BASIC_VERDICT_MS });
    while (this.verdicts.size > MAX_VERDICTS) {
      const oldest = this.verdicts.keys().next().value;
      if (oldest === undefined) break;
      this.verdicts.delete(oldest);
    }
    return allowed;
  }
}

/** Failed logins allowed per address in a window; past it the login form answers 429 until the window ends. */
const LOGIN_FAILURES = 10;
const LOGIN_WINDOW_MS = 60_000;

export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  blocked(address: string): boolean {
    const entry = this.failures.get(address);
    if (entry === undefined) return false;
    if (this.now() - entry.since > LOGIN_WINDOW_MS) {
      this.failures.delete(address);
      return false;
    }
    return entry.count >= LOGIN_FAILURES;
  }

  failed(address: string): void {
    const entry = this.failures.get(address);
    if (entry === undefined || this.now() - entry.since > LOGIN_WINDOW_MS) this.failures.set(address, { count: 1, since: this.now() });
    else entry.count += 1;
    if (this.failures.size > 10_000) this.failures.clear();
  }
}
