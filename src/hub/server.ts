/**
 * The hub's HTTP server (node:http): bounded header and request times, one
 * bounded body reader, GET/HEAD/POST only (PUT and DELETE on the API's
 * writes), security headers on every answer (a CSP that allows no inline
 * script, nosniff, same-origin referrers, no framing). Every page has a JSON
 * twin under /api/: one handler builds the data, and the HTML or the JSON
 * renders it.
 */
import * as http from "node:http";
import { PypakrError } from "../util/errors.js";
import { ADMIN_TOKEN_ENV, hasBearer, LoginThrottle, PrivateReads } from "./access.js";
import { ASSETS } from "./assets.js";
import { MAX_EVENTS_BYTES, MAX_FORM_BYTES, parseForm, readLimitedBody, TooLarge } from "./body.js";
import { parseEvents } from "./events.js";
import type { SafeHtml } from "./html.js";
import type { Indexer } from "./indexer.js";
import { cleanDescription, MAX_DESCRIPTION_BYTES, renderDescription } from "./markdown.js";
import { deleteConfirmPage, deletedPage, type DeletePlan, errorPage, loginPage } from "./pages/admin.js";
import { diffPage } from "./pages/diff.js";
import { homePage, RECENT_COUNT, REPOSITORIES_PER_PAGE } from "./pages/home.js";
import { layout, type View } from "./pages/layout.js";
import { repositoryPage } from "./pages/repository.js";
import { badQueryPage, searchPage } from "./pages/search.js";
import { tagPage } from "./pages/tag.js";
import type { HubParts } from "./parts.js";
import { apiRoute, pageRoute, type Route } from "./routes.js";
import { sbomInput } from "./sbom-input.js";
import { clearedSessionCookie, crossSiteProblem, sameSecret, sessionCookie, Sessions } from "./session.js";
import type { IndexedTag } from "./types.js";
import { urls } from "./urls.js";

export const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const SECURITY_HEADERS = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
} as const;
/** The longest search query read. */
export const MAX_QUERY_LENGTH = 200;
const SEARCH_LIMIT = 50;

export interface HubServerSettings {
  listen: { host: string; port: number };
  private: boolean;
  adminToken: string;
  eventsToken: string;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** An answer the handler chose, in the form the request asked for. */
type Answer =
  | { kind: "page"; status?: number; title: string; data: unknown; render: (view: View) => SafeHtml; api?: string; q?: string; headers?: Record<string, string> }
  | { kind: "redirect"; location: string; headers?: Record<string, string> }
  | { kind: "file"; type: string; body: string; filename: string };

/** An answer with a status other than 200, thrown by a handler. */
class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class HubServer {
  private readonly server: http.Server;
  private readonly sessions = new Sessions();
  private readonly logins = new LoginThrottle();
  private readonly privateReads: PrivateReads | null;

  constructor(
    private readonly parts: HubParts,
    private readonly indexer: Indexer,
    private readonly settings: HubServerSettings,
    private readonly log: (line: string) => void,
  ) {
    this.privateReads = settings.private ? new PrivateReads(settings.adminToken, this.sessions, (header) => parts.registry.acceptsAuthorization(header)) : null;
    this.server = http.createServer(
      { headersTimeout: settings.headersTimeoutMs ?? 10_000, requestTimeout: settings.requestTimeoutMs ?? 30_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 },
      (request, response) => void this.handle(request, response),
    );
  }

  listen(): Promise<{ host: string; port: number }> {
    const { host, port } = this.settings.listen;
    return new Promise((resolve, reject) => {
      this.server.once("error", (error: NodeJS.ErrnoException) => {
        const hint = error.code === "EADDRINUSE" ? "Another program listens there: pick another address with --listen." : "Check the --listen address: it must be an address of this machine.";
        reject(new PypakrError(`pypakr hub cannot listen on ${host}:${port}: ${error.code ?? error.message}`, { code: "serve-listen-failed", hint }));
      });
      this.server.listen(port, host, () => {
        const address = this.server.address();
        resolve({ host, port: typeof address === "object" && address !== null ? address.port : port });
      });
    });
  }

  /** Stops accepting; requests in flight get `drainMs` to finish. */
  async close(drainMs = 5_000): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), drainMs);
    await closed;
    clearTimeout(timer);
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const method = request.method ?? "GET";
    let url: URL;
    try {
      url = new URL(request.url ?? "/", "http://hub.invalid");
    } catch {
      return this.send(response, request, 400, "text/plain; charset=utf-8", "bad request path\n");
    }
    const pathname = url.pathname;
    const api = pathname === "/api" || pathname.startsWith("/api/");
    try {
      const allowed = api ? ["GET", "HEAD", "POST", "PUT", "DELETE"] : ["GET", "HEAD", "POST"];
      if (!allowed.includes(method)) throw new HttpProblem(405, `${method.slice(0, 20)} is not a method the hub answers`, null, { allow: allowed.join(", ") });
      if (pathname === "/-/health") return this.json(response, request, 200, this.settings.private ? { ok: true } : { ok: true, ...this.parts.index.counts(), pending: this.indexer.pending(), failures: this.indexer.failures });
      const asset = ASSETS.get(pathname);
      if (asset !== undefined) {
        if (request.headers["if-none-match"] === asset.etag) return this.send(response, request, 304, asset.type, "", { etag: asset.etag });
        return this.send(response, request, 200, asset.type, asset.body, { etag: asset.etag, "cache-control": "public, max-age=300" });
      }
      if (pathname === "/events") return await this.events(request, response, method);
      if (pathname === "/-/login") return await this.login(request, response, method, url, api);
      if (this.privateReads !== null && !(await this.privateReads.allows(request))) {
        throw new HttpProblem(401, "This hub is private: log in as admin, or give the registry's user name and password.", "Log in with the admin token (Admin login), or answer the browser's password prompt with your registry login.", { "www-authenticate": 'Basic realm="pypakr hub", charset="UTF-8"' });
      }
      if (pathname === "/-/logout") return await this.logout(request, response, method);
      const route = api ? apiRoute(pathname, (name) => this.knownRepository(name)) : pageRoute(pathname);
      if (route === null) throw new HttpProblem(404, `nothing here: ${pathname.slice(0, 200)}`, "Repositories are under /r/NAME, their JSON under /api/repositories/NAME.");
      const answer = api ? await this.apiAnswer(route, method, request, url) : await this.pageAnswer(route, method, request, url);
      return this.answer(request, response, answer, api);
    } catch (error) {
      return this.fail(request, response, error, api);
    }
  }

  private knownRepository(name: string): boolean {
    return this.parts.index.repository(name) !== null;
  }

  private view(request: http.IncomingMessage, url: URL): View {
    const session = this.sessions.current(request);
    return { admin: session !== null, csrf: session === null ? null : this.sessions.csrfToken(session), registry: this.parts.registry.registry, path: `${url.pathname}${url.search}`, now: new Date(), private: this.settings.private };
  }

  // ---- pages and their JSON twins (reads) ----

  private read(route: Route, url: URL): Answer {
    const { index } = this.parts;
    switch (route.name) {
      case "home":
      case "recent":
      case "repositories": {
        const offset = Math.min(Math.max(0, Math.trunc(Number(url.searchParams.get("offset") ?? 0)) || 0), 1_000_000);
        const page = index.repositories(REPOSITORIES_PER_PAGE + 1, offset);
        const data = { counts: index.counts(), recent: offset === 0 ? index.recent(RECENT_COUNT) : [], repositories: page.slice(0, REPOSITORIES_PER_PAGE), offset, next: page.length > REPOSITORIES_PER_PAGE ? offset + REPOSITORIES_PER_PAGE : null };
        if (route.name === "recent") return { kind: "page", title: "Recent pushes", data: { recent: index.recent(RECENT_COUNT) }, render: () => { throw new Error("API only"); } };
        if (route.name === "repositories") return { kind: "page", title: "Repositories", data: { repositories: data.repositories, offset, next: data.next }, render: () => { throw new Error("API only"); } };
        return { kind: "page", title: "Home", data, render: (view) => homePage(data, view), api: urls.api.repositories(offset) };
      }
      case "search": {
        const q = (url.searchParams.get("q") ?? "").trim();
        if (q.length > MAX_QUERY_LENGTH) throw new HttpProblem(400, `the search query is longer than ${MAX_QUERY_LENGTH} characters`, "Search for a name, or a distribution with a version (flask 3.1).");
        if (q === "") {
          const empty = { query: "", repositories: [], distributions: [] };
          return { kind: "page", title: "Search", data: empty, render: (view) => searchPage(empty, view), api: urls.api.search(""), q };
        }
        let results;
        try {
          results = index.search(this.parts.parseSearchQuery(q), SEARCH_LIMIT);
        } catch (error) {
          if (!(error instanceof PypakrError)) throw error;
          const problem = { error: { status: 400, code: error.code, message: error.message, hint: error.hint ?? null } };
          return { kind: "page", status: 400, title: "Search", data: problem, render: () => badQueryPage(q, error.message, error.hint ?? null), q };
        }
        return { kind: "page", title: `Search: ${q}`, data: results, render: (view) => searchPage(results, view), api: urls.api.search(q), q };
      }
      case "repository": {
        const page = index.repository(route.repository);
        if (page === null) throw notFound(`the hub knows no repository ${route.repository}`);
        const registry = this.parts.registry.registry;
        const data = { ...page, tags: page.tags.map((tag) => ({ ...tag, pull: `pypakr pull ${registry}/${page.name}:${tag.tag}` })) };
        return { kind: "page", title: page.name, data, render: (view) => repositoryPage(page, view), api: urls.api.repository(page.name) };
      }
      case "tag": {
        const tag = this.tag(route.repository, route.tag);
        const registry = this.parts.registry.registry;
        const data = {
          ...tag,
          pull: `pypakr pull ${registry}/${tag.repository}:${tag.tag}`,
          run: tag.kind === "pypakr" ? `pypakr run -i ${registry}/${tag.repository}:${tag.tag}` : null,
          downloads: tag.kind === "pypakr" ? { sbom: urls.sbom(tag.repository, tag.tag), pylock: urls.pylock(tag.repository, tag.tag) } : null,
        };
        return { kind: "page", title: `${tag.repository}:${tag.tag}`, data, render: (view) => tagPage(tag, view), api: urls.api.tag(tag.repository, tag.tag) };
      }
      case "diff": {
        const from = url.searchParams.get("from") ?? "";
        const to = url.searchParams.get("to") ?? "";
        const repository = index.repository(route.repository);
        if (repository === null) throw notFound(`the hub knows no repository ${route.repository}`);
        if (from === "" || to === "") throw new HttpProblem(400, "a comparison needs two tags: from and to", `Pick them on the repository's page, or add ?from=TAG&to=TAG.`);
        const diff = this.parts.diffTags(this.tag(route.repository, from), this.tag(route.repository, to));
        return { kind: "page", title: `${route.repository}: ${from} → ${to}`, data: diff, render: (view) => diffPage(diff, repository, view), api: urls.api.diff(route.repository, from, to) };
      }
      case "sbom":
      case "pylock": {
        const tag = this.tag(route.repository, route.tag);
        if (tag.kind !== "pypakr") throw notFound(`${tag.repository}:${tag.tag} is not a pypakr image: the hub knows no Python distributions of it`);
        const input = sbomInput(tag, this.parts.registry.registry);
        const base = `${tag.repository.split("/").pop() ?? "image"}-${tag.tag}`;
        if (route.name === "sbom") return { kind: "file", type: "application/vnd.cyclonedx+json; charset=utf-8", body: `${JSON.stringify(this.parts.cycloneDxDocument(input), null, 2)}\n`, filename: `${base}.cdx.json` };
        return { kind: "file", type: "application/toml; charset=utf-8", body: this.parts.pylockDocument(input), filename: "pylock.toml" };
      }
      default:
        throw new HttpProblem(405, "this address takes only POST", null, { allow: "POST" });
    }
  }

  private tag(repository: string, tag: string): IndexedTag {
    const found = this.parts.index.tag(repository, tag);
    if (found === null) throw notFound(`the hub knows no tag ${tag} of ${repository}`);
    return found;
  }

  private async pageAnswer(route: Route, method: string, request: http.IncomingMessage, url: URL): Promise<Answer> {
    if (method === "POST") {
      const { session, form } = await this.adminForm(request);
      void session;
      if (route.name === "description") {
        const description = form.get("description") ?? "";
        this.saveDescription(route.repository, description);
        return { kind: "redirect", location: urls.repository(route.repository) };
      }
      if (route.name === "delete") {
        const plan = await this.deletePlan(route.repository, route.tag);
        if (form.get("digest") !== plan.digest) throw new HttpProblem(409, `${route.repository}:${route.tag} moved to ${plan.digest} since the page was shown`, "Look at the tag again, and delete it from its page if you still mean to.");
        const removed = await this.deleteDigest(plan);
        return { kind: "page", title: "Deleted", data: { ...plan, removed }, render: () => deletedPage(plan, removed) };
      }
      throw new HttpProblem(405, "this page takes no POST", null, { allow: "GET, HEAD" });
    }
    if (route.name === "delete") {
      if (this.sessions.current(request) === null) return { kind: "redirect", location: urls.login(url.pathname) };
      const plan = await this.deletePlan(route.repository, route.tag);
      return { kind: "page", title: `Delete ${route.repository}:${route.tag}`, data: plan, render: (view) => deleteConfirmPage(plan, view) };
    }
    if (route.name === "description") return { kind: "redirect", location: urls.repository(route.repository) };
    return this.read(route, url);
  }

  private async apiAnswer(route: Route, method: string, request: http.IncomingMessage, url: URL): Promise<Answer> {
    if (method === "GET" || method === "HEAD") {
      if (route.name === "delete" || route.name === "description") throw new HttpProblem(405, "this address takes only writes", null, { allow: route.name === "delete" ? "DELETE" : "PUT" });
      return this.read(route, url);
    }
    // Writes: the admin token as Bearer, never the session cookie (a browser never sends that header of itself: no CSRF).
    const writable = (method === "PUT" && route.name === "description") || (method === "DELETE" && (route.name === "tag" || route.name === "delete"));
    if (!writable) throw new HttpProblem(405, `${method} is not allowed here`, "The API's writes: PUT /api/repositories/NAME/description and DELETE /api/repositories/NAME/tags/TAG.");
    if (!hasBearer(request, this.settings.adminToken)) throw new HttpProblem(401, "the API's writes need the admin token", `Send Authorization: Bearer TOKEN (the hub's admin-token file, or ${ADMIN_TOKEN_ENV}).`, { "www-authenticate": 'Bearer realm="pypakr hub"' });
    if (route.name === "description") {
      const body = await readLimitedBody(request, MAX_FORM_BYTES);
      let description: unknown;
      try {
        description = (JSON.parse(body.toString("utf8")) as { description?: unknown } | null)?.description;
      } catch {
        description = undefined;
      }
      if (typeof description !== "string") throw new HttpProblem(400, 'the body must be JSON: {"description": "Markdown text"}');
      const saved = this.saveDescription(route.repository, description);
      return { kind: "page", title: "Saved", data: saved, render: () => { throw new Error("API only"); } };
    }
    if (route.name !== "tag" && route.name !== "delete") throw new HttpProblem(405, "not a write");
    const plan = await this.deletePlan(route.repository, route.tag);
    const removed = await this.deleteDigest(plan);
    return { kind: "page", title: "Deleted", data: { repository: plan.repository, tag: plan.tag, digest: plan.digest, deletedTags: removed.length > 0 ? removed : plan.tags, note: "The registry frees the layers' space when its garbage collection runs." }, render: () => { throw new Error("API only"); } };
  }

  private async adminForm(request: http.IncomingMessage): Promise<{ session: string; form: Map<string, string> }> {
    const crossSite = crossSiteProblem(request);
    if (crossSite !== null) throw new HttpProblem(403, `refused: ${crossSite}`, "Use the hub's own pages to change it.");
    const session = this.sessions.current(request);
    if (session === null) throw new HttpProblem(403, "only an admin may change this: log in first", "Log in with the admin token (Admin login, top right).");
    const form = parseForm(request, await readLimitedBody(request, MAX_FORM_BYTES));
    if (form === null) throw new HttpProblem(415, "a form post must be application/x-www-form-urlencoded");
    if (!this.sessions.csrfValid(session, form.get("csrf"))) throw new HttpProblem(403, "the form's CSRF token is missing or wrong", "Reload the page and submit the form again.");
    return { session, form };
  }

  private saveDescription(repository: string, text: string): { repository: string; description: string; descriptionHtml: string } {
    if (!this.knownRepository(repository) && !this.parts.index.repositoryNames().includes(repository)) throw notFound(`the hub knows no repository ${repository}`);
    const description = cleanDescription(text);
    if (Buffer.byteLength(description) > MAX_DESCRIPTION_BYTES) throw new HttpProblem(413, `the description is longer than ${MAX_DESCRIPTION_BYTES / 1024} KiB`, "Shorten it; link to longer documentation instead.");
    const descriptionHtml = renderDescription(description);
    this.parts.index.setDescription(repository, description, descriptionHtml);
    return { repository, description, descriptionHtml };
  }

  /** The digest the tag names now (asked of the registry) and every tag of the repository on it. */
  private async deletePlan(repository: string, tag: string): Promise<DeletePlan> {
    const document = await this.parts.registry.manifest(repository, tag);
    const tags = [...this.parts.index.tagDigests(repository)].filter(([, digest]) => digest === document.digest).map(([name]) => name);
    if (!tags.includes(tag)) tags.unshift(tag);
    return { repository, tag, digest: document.digest, tags: tags.sort() };
  }

  private async deleteDigest(plan: DeletePlan): Promise<string[]> {
    await this.parts.registry.deleteManifest(plan.repository, plan.digest);
    this.log(`pypakr hub: deleted ${plan.repository}@${plan.digest} (${plan.tags.join(", ")}) at an admin's request\n`);
    return this.parts.index.removeDigest(plan.repository, plan.digest);
  }

  // ---- login, logout, events ----

  private async login(request: http.IncomingMessage, response: http.ServerResponse, method: string, url: URL, api: boolean): Promise<void> {
    const next = safeNext(url.searchParams.get("next"));
    if (method !== "POST") return this.answer(request, response, { kind: "page", title: "Admin login", data: {}, render: () => loginPage(next, null) }, api);
    const crossSite = crossSiteProblem(request);
    if (crossSite !== null) throw new HttpProblem(403, `refused: ${crossSite}`);
    const address = request.socket.remoteAddress ?? "?";
    if (this.logins.blocked(address)) throw new HttpProblem(429, "too many failed logins from this address", "Wait a minute, then try again.", { "retry-after": "60" });
    const form = parseForm(request, await readLimitedBody(request, MAX_FORM_BYTES));
    const token = form?.get("token") ?? "";
    const target = safeNext(form?.get("next") ?? null);
    if (!sameSecret(this.settings.adminToken, token)) {
      this.logins.failed(address);
      return this.answer(request, response, { kind: "page", status: 403, title: "Admin login", data: { error: "wrong token" }, render: () => loginPage(target, "That is not the admin token.") }, false);
    }
    const session = this.sessions.create();
    return this.answer(request, response, { kind: "redirect", location: target, headers: { "set-cookie": sessionCookie(session, isHttps(request)) } }, false);
  }

  private async logout(request: http.IncomingMessage, response: http.ServerResponse, method: string): Promise<void> {
    if (method !== "POST") throw new HttpProblem(405, "log out with the button (a POST)", null, { allow: "POST" });
    const { session } = await this.adminForm(request);
    this.sessions.end(session);
    return this.answer(request, response, { kind: "redirect", location: "/", headers: { "set-cookie": clearedSessionCookie(isHttps(request)) } }, false);
  }

  private async events(request: http.IncomingMessage, response: http.ServerResponse, method: string): Promise<void> {
    if (method !== "POST") throw new HttpProblem(405, "the registry POSTs its notifications here", null, { allow: "POST" });
    // A wrong token: 401, which the registry retries forever, so the misconfiguration shows in its log.
    if (!hasBearer(request, this.settings.eventsToken)) throw new HttpProblem(401, "notifications need the events token", "Set the registry's notifications endpoint header Authorization: [Bearer TOKEN] (the hub's events-token file).", { "www-authenticate": 'Bearer realm="pypakr hub events"' });
    const parsed = parseEvents((await readLimitedBody(request, MAX_EVENTS_BYTES)).toString("utf8"));
    if (parsed === null) throw new HttpProblem(400, "not a notification envelope: JSON with an events list");
    if (parsed.malformed > 0) this.log(`pypakr hub: ${parsed.malformed} malformed event${parsed.malformed === 1 ? "" : "s"} skipped\n`);
    for (const event of parsed.events) this.indexer.handle(event);
    this.json(response, request, 202, { accepted: parsed.events.length, skipped: parsed.malformed });
  }

  // ---- writing answers ----

  private answer(request: http.IncomingMessage, response: http.ServerResponse, answer: Answer, api: boolean): void {
    if (answer.kind === "redirect") {
      return this.send(response, request, 303, "text/plain; charset=utf-8", `See ${answer.location}\n`, { location: answer.location, ...answer.headers });
    }
    if (answer.kind === "file") {
      return this.send(response, request, 200, answer.type, answer.body, { "content-disposition": `attachment; filename="${answer.filename.replace(/[^A-Za-z0-9._-]/g, "_")}"` });
    }
    if (api) return this.json(response, request, answer.status ?? 200, answer.data, answer.headers);
    const view = this.view(request, new URL(request.url ?? "/", "http://hub.invalid"));
    const page = layout(view, answer.title, answer.render(view), { ...(answer.q !== undefined ? { q: answer.q } : {}), ...(answer.api !== undefined ? { api: answer.api } : {}) });
    this.send(response, request, answer.status ?? 200, "text/html; charset=utf-8", page.toString(), answer.headers);
  }

  private fail(request: http.IncomingMessage, response: http.ServerResponse, error: unknown, api: boolean): void {
    let problem: HttpProblem;
    if (error instanceof HttpProblem) problem = error;
    else if (error instanceof TooLarge) problem = new HttpProblem(413, error.message, null, { connection: "close" });
    else if (error instanceof PypakrError) problem = new HttpProblem(statusOf(error.code), error.message, error.hint ?? null);
    else {
      this.log(`pypakr hub: internal error on ${request.method ?? "?"} ${(request.url ?? "").slice(0, 200)}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      problem = new HttpProblem(500, "the hub failed on this request (its log says why)");
    }
    if (api || (request.url ?? "").startsWith("/events")) return this.json(response, request, problem.status, { error: { status: problem.status, message: problem.message, hint: problem.hint } }, problem.headers);
    const view = this.view(request, new URL(request.url ?? "/", "http://hub.invalid"));
    // A private hub's 401 shows no page furniture beyond the login link.
    const body = layout(problem.status === 401 ? { ...view, registry: "(private)" } : view, problem.status === 404 ? "Not found" : "Error", errorPage(problem.status, problem.message, problem.hint));
    this.send(response, request, problem.status, "text/html; charset=utf-8", body.toString(), problem.headers);
  }

  private json(response: http.ServerResponse, request: http.IncomingMessage, status: number, data: unknown, headers: Record<string, string> = {}): void {
    // "<" as \u003c: the same JSON, and no byte of it can ever be read as markup (an old browser sniffing, a careless embedder).
    this.send(response, request, status, "application/json; charset=utf-8", `${JSON.stringify(data).replace(/</g, "\\u003c")}\n`, headers);
  }

  private send(response: http.ServerResponse, request: http.IncomingMessage, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
    if (response.headersSent) return void response.destroy();
    const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
    response.writeHead(status, { ...SECURITY_HEADERS, "cache-control": "no-store", "content-type": type, ...(status === 304 ? {} : { "content-length": String(bytes.length) }), ...headers });
    response.end(request.method === "HEAD" || status === 304 ? undefined : bytes);
  }
}

function notFound(message: string): HttpProblem {
  return new HttpProblem(404, message, "Search for it from the home page; the registry may have deleted it.");
}

/** HTTP status for a PypakrError the registry client or a part threw. */
function statusOf(code: string): number {
  if (code === "registry-not-found") return 404;
  if (code === "bad-query") return 400;
  if (code === "registry-delete-disabled") return 409;
  if (code.startsWith("registry-") || code === "unsafe-transport") return 502;
  return 500;
}

/** Where the login returns to: a path of this hub only (never "//host", which a browser reads as another site). */
function safeNext(next: string | null): string {
  if (next === null || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\") || next.length > 2000) return "/";
  return next;
}

function isHttps(request: http.IncomingMessage): boolean {
  return request.headers["x-forwarded-proto"] === "https";
}
