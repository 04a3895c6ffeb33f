/**
 * A connection to one registry: the transport, plus authentication answered
 * on demand (a 401 is answered once per request, then it is an error), plus
 * the registry's error bodies turned into messages a user can act on.
 */
import * as z from "zod";
import { PypakrError } from "../util/errors.js";
import { tryParseJson } from "../util/json.js";
import { show, shellWord } from "../util/printable.js";
import { Authorizer, credentialsRefusedElsewhere, loginNeeded } from "./auth.js";
import { getCredentials, type Credentials } from "./credentials.js";
import { displayUrl, readBody, Transport, type HttpRequest, type HttpResponse, type TransportOptions } from "./http.js";
import { scrub } from "./secrets.js";

/**
 * The OCI error body, `{"errors": [{"code", "message", "detail"}]}`: only
 * ever extra words for an error the status already decides, so an entry of
 * another shape is passed over (and the rest shown), and a body of another
 * shape (a proxy's HTML page) adds nothing.
 */
const MAX_ERROR_BODY = 64 * 1024;
const errorWord = z.string().catch("");
const registryErrorsSchema = z.object({
  errors: z.array(z.object({ code: errorWord, message: errorWord }).catch({ code: "", message: "" })),
});

/** The registry's own words about an error ("" when it gave none pypakr can read). */
function errorDetail(body: Buffer): string {
  const parsed = tryParseJson(body.toString("utf8"), registryErrorsSchema);
  return (parsed?.errors ?? [])
    .map((error) => [error.code, error.message].filter(Boolean).join(" "))
    .filter(Boolean)
    .join("; ");
}

export interface ClientOptions extends TransportOptions {
  /** Credentials to use instead of the stored ones (login checks them before storing). */
  credentials?: Credentials | null;
  env?: NodeJS.ProcessEnv;
}

export class RegistryClient {
  readonly transport: Transport;
  private readonly auth: Authorizer;

  constructor(
    readonly registry: string,
    options: ClientOptions = {},
  ) {
    this.transport = new Transport(registry, options);
    const given = options.credentials;
    this.auth = new Authorizer(this.transport, () => (given !== undefined ? Promise.resolve(given) : getCredentials(registry, options.env)));
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /**
   * Sends `request` to a registry path or URL, authenticating for `scopes`
   * when challenged. A URL may be on another host (an upload Location, say):
   * it then goes without credentials, as Docker sends it, since a registry
   * that hands out such URLs makes them work without (the upload's state or
   * a signature rides in the URL); and a 401 from any origin but the
   * registry's is an error, never answered with the registry's credentials.
   */
  async fetch(request: Omit<HttpRequest, "url" | "credentialsFor" | "secretBody"> & { url: string | URL }, scopes: string[]): Promise<HttpResponse> {
    const url = typeof request.url === "string" ? this.transport.url(request.url) : request.url;
    const headers: Record<string, string> = { "user-agent": "pypakr", ...request.headers };
    delete headers.authorization; // this method's alone to set
    const known = this.transport.isRegistryOrigin(url) ? this.auth.cached(scopes) : undefined;
    if (known) headers.authorization = known;
    let response = await this.transport.send({ ...request, url, headers });
    if (response.status !== 401) return response;
    const challenge = response.headers["www-authenticate"];
    await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    // Only the registry's own challenge is answered (after redirects, response.url is who asked).
    if (!this.transport.isRegistryOrigin(response.url)) throw credentialsRefusedElsewhere(this.registry, response.url);
    headers.authorization = await this.auth.answer(challenge, scopes);
    response = await this.transport.send({ ...request, url, headers });
    if (response.status === 401) {
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      throw loginNeeded(this.registry);
    }
    return response;
  }

  /** An error for an unexpected answer, with the registry's own error codes and messages (OCI error body). */
  async unexpected(response: HttpResponse, what: string): Promise<PypakrError> {
    // An unreadable or overlong body adds nothing: the status says enough.
    const detail = errorDetail(await readBody(response, MAX_ERROR_BODY, "an error message").catch(() => Buffer.alloc(0)));
    const where = `registry ${this.registry} answered HTTP ${response.status} to ${what} (${displayUrl(response.url)})${detail ? `: ${show(scrub(detail).slice(0, 500))}` : ""}`;
    if (response.status === 403) return new PypakrError(`${where}; access denied`, { code: "registry-denied", hint: `Check that your login may do this, or log in as another user: pypakr login ${shellWord(this.registry)}` });
    if (response.status === 404) return new PypakrError(where, { code: "registry-not-found", hint: "Check the repository name and tag; pypakr pull needs HOST[:PORT]/REPO[:TAG]." });
    if (response.status >= 500) return new PypakrError(where, { code: "registry-failed", hint: "The registry failed; try again later." });
    return new PypakrError(where, { code: "registry-refused", hint: "Check the reference; if it is right, the registry refused the request." });
  }
}
