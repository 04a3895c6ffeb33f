/**
 * Reading a registry as a catalogue, for the hub: the repositories
 * (`/v2/_catalog`), each one's tags, manifests by tag or digest, blobs as
 * verified streams, and deleting a manifest. One RegistryBrowser talks to
 * one registry for as long as the hub runs, through the same client (retries,
 * authentication, redirects) as pull and push.
 *
 * Everything the registry answers is hostile: every body is read up to a
 * limit, every list is cut at a count, every name and tag is held to the
 * distribution grammar before it is handed on (or put into a URL), and a
 * `Link` to the next page is followed only on the registry's own origin.
 */
import { createHash } from "node:crypto";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import * as z from "zod";
import type { Descriptor } from "../image/index.js";
import { isDigest, isRepositoryName, isTag } from "../image/index.js";
import { describe, PypakrError, usageError } from "../util/errors.js";
import { tryParseJson } from "../util/json.js";
import { readLimited } from "../util/read-limited.js";
import { deleteScope, pullScope } from "./auth.js";
import { RegistryClient } from "./client.js";
import type { Credentials } from "./credentials.js";
import { fetchManifestDocument, type ManifestDocument } from "./download.js";
import { displayUrl, dropBody, readBody, type HttpResponse } from "./http.js";
import { isLoopback, registryHost } from "./reference.js";
import { scrubError, withoutSecrets } from "./secrets.js";

export interface BrowseOptions {
  /** Plain HTTP to a registry that is not on loopback. */
  insecure?: boolean;
  /** A PEM file of CA certificates to trust for HTTPS. */
  caFile?: string;
  /** Where the stored credentials are looked up (DOCKER_CONFIG and the like). */
  env?: NodeJS.ProcessEnv;
  /** Credentials to use instead of the stored ones; null for none. */
  credentials?: Credentials | null;
  /** Names asked per catalog page (the `n` of `_catalog?n=`): 1,000 by default, the most distribution allows. */
  pageSize?: number;
  /** Retry policy of the transport (tests shorten the waits). */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
}

/** The catalog scope of Docker's token spec: reading `_catalog` needs it on token registries. */
export const CATALOG_SCOPE = "registry:catalog:*";
/** Past this many repositories the catalog is cut: a registry could page forever. */
export const MAX_REPOSITORIES = 100_000;
/** Past this many tags a repository's list is cut (after sorting, the first ones are kept). */
export const MAX_TAGS = 10_000;
/** One page of the catalog or of a tag list: 1,000 names of 255 characters, quoted, fit with room. */
const MAX_PAGE_BYTES = 4 * 1024 * 1024;
/** A Link header longer than this is not one a registry sends: it is ignored. */
const MAX_LINK_CHARS = 8 * 1024;
/** Pages followed for one list: with MAX_PAGE_BYTES each, bounds the bytes read too. */
const MAX_PAGES = 1_000;
/** An Authorization value checked for a browser: no real Basic header is longer. */
const MAX_AUTHORIZATION_CHARS = 4 * 1024;
const DEFAULT_PAGE_SIZE = 1_000;

const catalogPageSchema = z.object({ repositories: z.array(z.unknown()).nullish() });
const tagsPageSchema = z.object({ tags: z.array(z.unknown()).nullish() });

/**
 * The target of a `Link: <...>; rel="next"` header (RFC 8288), resolved
 * against `base`; undefined when there is none (or the header is not one
 * pypakr can read: then there is no next page either).
 */
export function nextLink(header: string | undefined, base: URL): URL | undefined {
  if (!header || header.length > MAX_LINK_CHARS) return undefined;
  for (const match of header.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
    const params = match[2] ?? "";
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
    const relations = (rel?.[1] ?? rel?.[2] ?? "").toLowerCase().split(/\s+/);
    if (!relations.includes("next")) continue;
    try {
      return new URL(match[1] ?? "", base);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Where a browser talks to: "http://127.0.0.1:5000", "https://registry.example"
 * or a bare host (HTTPS unless on loopback). Only a registry's root: a path,
 * query or login in the URL is refused.
 */
function parseRegistryUrl(text: string, options: BrowseOptions): { registry: string; https: boolean } {
  const hint = "Give the registry as http://127.0.0.1:5000, https://registry.example or HOST[:PORT].";
  const written = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : undefined;
  if (!written) return { registry: registryHost(text), https: false };
  let url: URL;
  try {
    url = new URL(written);
  } catch {
    throw usageError("bad-reference", `"${text}" is not a registry address`, hint);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw usageError("bad-reference", `"${text}" is not an http or https address`, hint);
  if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== "/v2/")) {
    throw usageError("bad-reference", `"${text}" is more than a registry's address (it has a path, query or login)`, `${hint} Logins come from pypakr login.`);
  }
  const registry = registryHost(url.host);
  if (url.protocol === "http:" && !isLoopback(registry) && !options.insecure) {
    throw new PypakrError(`registry ${registry} would be spoken to over plain HTTP, which pypakr does only on loopback`, { code: "unsafe-transport", hint: "Use https://, or pass --insecure if you trust the network to that host." });
  }
  if (url.protocol === "http:" && options.caFile) throw usageError("bad-reference", `"${text}" says plain HTTP, and a CA file is for HTTPS`, "Write https:// or leave out the CA file.");
  return { registry, https: url.protocol === "https:" };
}

function checkRepository(repository: string): void {
  if (!isRepositoryName(repository)) throw usageError("bad-reference", `${JSON.stringify(repository.slice(0, 300))} is not a repository name`, "A repository name is lowercase components (letters, digits, . _ -) joined by /.");
}

function checkDigest(digest: string): void {
  if (!isDigest(digest)) throw usageError("bad-reference", `${JSON.stringify(digest.slice(0, 100))} is not a digest`, "Give a digest as sha256:<64 lowercase hex digits>.");
}

function checkDescriptor(descriptor: Descriptor): void {
  checkDigest(descriptor.digest);
  if (!Number.isSafeInteger(descriptor.size) || descriptor.size < 0) throw usageError("bad-reference", `blob ${descriptor.digest} has no usable size (${String(descriptor.size)})`, "The manifest that names it is malformed.");
}

/**
 * A stream that passes `expected`'s bytes through and fails at once when more
 * come than its size, and at the end when fewer came or they hash to another
 * digest: who reads it to the end knows whether every byte was the blob's.
 */
class VerifyingStream extends Transform {
  private readonly hash = createHash("sha256");
  private seen = 0;

  constructor(
    private readonly expected: Descriptor,
    private readonly wrong: (problem: string) => PypakrError,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expected.size) return done(this.wrong(`it sent more than the ${this.expected.size} bytes the manifest gives`));
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.seen < this.expected.size) return done(this.wrong(`it sent ${this.seen} of the ${this.expected.size} bytes the manifest gives`));
    const digest = `sha256:${this.hash.digest("hex")}`;
    if (digest !== this.expected.digest) return done(this.wrong(`the ${this.seen} bytes hash to ${digest}`));
    done();
  }
}

export class RegistryBrowser {
  /** host[:port] as pypakr references name it ("127.0.0.1:5000/team/app:1"). */
  readonly registry: string;
  private readonly client: RegistryClient;
  private readonly pageSize: number;

  constructor(url: string, options: BrowseOptions = {}) {
    const { registry, https } = parseRegistryUrl(url, options);
    this.registry = registry;
    this.pageSize = Math.max(1, Math.min(DEFAULT_PAGE_SIZE, Math.floor(options.pageSize ?? DEFAULT_PAGE_SIZE)));
    this.client = new RegistryClient(registry, {
      ...(options.insecure ? { insecure: true } : {}),
      ...(options.caFile ? { caFile: options.caFile } : {}),
      ...(https ? { https: true } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
  }

  /** The registry's base URL ("http://127.0.0.1:5000/"). */
  get baseUrl(): URL {
    return new URL(this.client.transport.baseUrl);
  }

  /**
   * Every repository the catalog lists, page by page (`n` names a page; a
   * registry that refuses that `n` is asked with its own default), following
   * `Link: <...>; rel="next"` on the registry's own origin only. Names that
   * break the distribution grammar are passed over; the list ends after
   * MAX_REPOSITORIES names.
   */
  async *repositories(): AsyncGenerator<string> {
    try {
      yield* this.catalog();
    } catch (error) {
      throw scrubError(error);
    }
  }

  private async *catalog(): AsyncGenerator<string> {
    const seen = new Set<string>();
    const asked = new Set<string>();
    let url: URL | undefined = this.client.transport.url(`/v2/_catalog?n=${this.pageSize}`);
    let first = true;
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const { body, response } = await this.readPage(url, [CATALOG_SCOPE], "the catalog", first, asked);
      first = false;
      const parsed = this.parse(body, catalogPageSchema, "the catalog");
      for (const name of parsed.repositories ?? []) {
        if (typeof name !== "string" || !isRepositoryName(name) || seen.has(name)) continue;
        seen.add(name);
        yield name;
        if (seen.size >= MAX_REPOSITORIES) return;
      }
      url = this.next(response, "the catalog", "/v2/_catalog");
    }
  }

  /**
   * The repository's tags, sorted (distribution 2.8 lists them in no order),
   * across pages when the registry pages them; `"tags": null` (a repository
   * whose manifests were all deleted) is no tag. Tags that break the grammar
   * are passed over; past MAX_TAGS the list is cut.
   */
  async tags(repository: string): Promise<string[]> {
    checkRepository(repository);
    return withoutSecrets(async () => {
      const tags = new Set<string>();
      const asked = new Set<string>();
      const path = `/v2/${repository}/tags/list`;
      let url: URL | undefined = this.client.transport.url(path);
      for (let page = 0; url && page < MAX_PAGES && tags.size < MAX_TAGS; page++) {
        const { body, response } = await this.readPage(url, [pullScope(repository)], `the tags of ${repository}`, false, asked);
        for (const tag of this.parse(body, tagsPageSchema, `the tags of ${repository}`).tags ?? []) {
          if (typeof tag === "string" && isTag(tag)) tags.add(tag);
        }
        url = this.next(response, `the tags of ${repository}`, path);
      }
      return [...tags].sort().slice(0, MAX_TAGS);
    });
  }

  /**
   * The manifest (or index) `reference` names, a tag or a digest: read up to
   * MAX_MANIFEST_BYTES, its bytes hashed against the digest asked for (or
   * that the registry names).
   */
  async manifest(repository: string, reference: string): Promise<ManifestDocument> {
    checkRepository(repository);
    const byDigest = isDigest(reference);
    if (!byDigest && !isTag(reference)) throw usageError("bad-reference", `${JSON.stringify(reference.slice(0, 200))} is neither a tag nor a digest`, "A tag is letters, digits, _ . - (128 at most); a digest is sha256:<64 hex>.");
    const source = `${this.registry}/${repository}${byDigest ? `@${reference}` : `:${reference}`}`;
    const refuse = (problem: string) => new PypakrError(`registry ${this.registry} sent for ${source} what is not a manifest: ${problem}`, { code: "registry-bad-data", hint: "Push the image again, or tell the registry's operator." });
    return withoutSecrets(() => fetchManifestDocument(this.client, { registry: this.registry, repository, ...(byDigest ? { digest: reference } : { tag: reference }) }, source, refuse));
  }

  /**
   * The blob as a stream of its bytes. A Content-Length other than the
   * descriptor's size is refused before any byte is read; the stream fails
   * (with a registry-bad-data PypakrError) as soon as more bytes come than
   * the size, and at its end when fewer came or they hash to another digest.
   * Read it to the end, or destroy it.
   */
  async openBlob(repository: string, descriptor: Descriptor): Promise<Readable> {
    checkRepository(repository);
    checkDescriptor(descriptor);
    const wrong = (problem: string) =>
      new PypakrError(`registry ${this.registry} sent wrong bytes for blob ${descriptor.digest} of ${repository}: ${problem}`, {
        code: "registry-bad-data",
        hint: "The registry or something between it and you altered the data. Try again, or tell the registry's operator.",
      });
    const response = await withoutSecrets(() => this.client.fetch({ method: "GET", url: `/v2/${repository}/blobs/${descriptor.digest}` }, [pullScope(repository)]));
    if (response.status !== 200) throw await this.client.unexpected(response, `a request for blob ${descriptor.digest} of ${repository}`);
    const announced = response.headers["content-length"];
    if (announced !== undefined && Number(announced) !== descriptor.size) {
      dropBody(response);
      throw wrong(`it announced ${announced} bytes where the manifest gives ${descriptor.size}`);
    }
    const verifying = new VerifyingStream(descriptor, wrong);
    const body = response.body as unknown as Readable;
    body.on("error", (error) => verifying.destroy(error instanceof PypakrError ? error : new PypakrError(`registry ${this.registry} broke off blob ${descriptor.digest} of ${repository}: ${describe(error)}`, { code: "registry-transfer-failed", hint: "Try again.", cause: error })));
    // Whoever stops reading early stops the download too.
    verifying.on("close", () => body.destroy());
    body.pipe(verifying);
    return verifying;
  }

  /** The whole blob, verified, for a small document (a config): one larger than `limit` is refused before it travels. */
  async readBlob(repository: string, descriptor: Descriptor, limit: number): Promise<Buffer> {
    checkRepository(repository);
    checkDescriptor(descriptor);
    const tooLarge = () => new PypakrError(`blob ${descriptor.digest} of ${this.registry}/${repository} is ${descriptor.size} bytes, more than the ${limit} pypakr reads of it`, { code: "too-large", hint: "No image has a document that large; the manifest naming it is hostile or broken." });
    if (descriptor.size > limit) throw tooLarge();
    const stream = await this.openBlob(repository, descriptor);
    return readLimited(stream as AsyncIterable<Buffer>, limit, tooLarge);
  }

  /**
   * Deletes the manifest `digest` names: distribution 2.8 deletes by digest
   * only, and takes every tag of the repository on that digest with it. A
   * manifest already gone is no error. A registry without
   * `storage.delete.enabled: true` answers 405: an error that says so.
   */
  async deleteManifest(repository: string, digest: string): Promise<void> {
    checkRepository(repository);
    checkDigest(digest);
    return withoutSecrets(async () => {
      const response = await this.client.fetch({ method: "DELETE", url: `/v2/${repository}/manifests/${digest}`, idempotent: true }, [deleteScope(repository)]);
      if (response.status === 200 || response.status === 202 || response.status === 404) {
        await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        return;
      }
      if (response.status === 405) {
        await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        throw new PypakrError(`registry ${this.registry} does not allow deleting (it answered HTTP 405 to deleting ${repository}@${digest})`, {
          code: "registry-delete-disabled",
          hint: "Turn deletes on in the registry's configuration (storage.delete.enabled: true, or REGISTRY_STORAGE_DELETE_ENABLED=true) and restart it.",
        });
      }
      throw await this.client.unexpected(response, `deleting ${repository}@${digest}`);
    });
  }

  /**
   * Whether the registry takes `header` (a browser's `Basic ...`
   * Authorization) for a login: GET /v2/ with exactly that header and no
   * other credentials, true on 200. Anything but a Basic header is false
   * without asking. The header is sent to the registry's origin only, and
   * kept nowhere.
   */
  async acceptsAuthorization(header: string): Promise<boolean> {
    if (header.length > MAX_AUTHORIZATION_CHARS || !/^Basic [A-Za-z0-9+/]+={0,2}$/.test(header)) return false;
    return withoutSecrets(async () => {
      const response = await this.client.transport.send({ method: "GET", url: this.client.transport.url("/v2/"), headers: { "user-agent": "pypakr", authorization: header } });
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      return response.status === 200 && this.client.transport.isRegistryOrigin(response.url);
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /**
   * One page of a list, read up to MAX_PAGE_BYTES. `retryWithoutSize`: a
   * 400 to the first page (a registry that refuses our `n`) is asked again
   * without `n`, for its own default.
   */
  private async readPage(url: URL, scopes: string[], what: string, retryWithoutSize: boolean, asked: Set<string>): Promise<{ body: Buffer; response: HttpResponse }> {
    if (asked.has(url.href)) throw this.misbehaved(`its pages of ${what} lead back to ${displayUrl(url)}`);
    asked.add(url.href);
    let response = await withoutSecrets(() => this.client.fetch({ method: "GET", url, headers: { accept: "application/json" } }, scopes));
    if (response.status === 400 && retryWithoutSize && url.searchParams.has("n")) {
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      const plain = new URL(url);
      plain.searchParams.delete("n");
      asked.add(plain.href);
      response = await withoutSecrets(() => this.client.fetch({ method: "GET", url: plain, headers: { accept: "application/json" } }, scopes));
    }
    if (response.status !== 200) throw await this.client.unexpected(response, `a request for ${what}`);
    // A list comes from the registry itself: one that redirects it elsewhere would hand the hub another registry's names.
    if (!this.client.transport.isRegistryOrigin(response.url)) {
      dropBody(response);
      throw this.misbehaved(`it sent ${what} on to ${response.url.origin}; pypakr reads lists only from the registry itself`);
    }
    const announced = Number(response.headers["content-length"] ?? 0);
    if (announced > MAX_PAGE_BYTES) {
      dropBody(response);
      throw this.tooLarge(what);
    }
    return { body: await readBody(response, MAX_PAGE_BYTES, what), response };
  }

  private parse<T>(body: Buffer, schema: z.ZodType<T>, what: string): T {
    const parsed = tryParseJson(body.toString("utf8"), schema);
    if (parsed === undefined) throw this.misbehaved(`its answer for ${what} is not the JSON the distribution spec gives`);
    return parsed;
  }

  /** The next page's URL, when the response links one: on the registry's own origin and path only. */
  private next(response: HttpResponse, what: string, path: string): URL | undefined {
    const link = nextLink(response.headers.link, response.url);
    if (!link) return undefined;
    if (!this.client.transport.isRegistryOrigin(link) || link.pathname !== path) {
      throw this.misbehaved(`it links the next page of ${what} to ${link.origin}${displayUrl(link).slice(link.host.length)}, which is not ${path} on the registry itself; pypakr did not follow it`);
    }
    return link;
  }

  private misbehaved(problem: string): PypakrError {
    return new PypakrError(`registry ${this.registry} misbehaves: ${problem}`, { code: "registry-misbehaved", hint: "Tell the registry's operator." });
  }

  private tooLarge(what: string): PypakrError {
    return new PypakrError(`registry ${this.registry} sent more than ${MAX_PAGE_BYTES} bytes for one page of ${what}`, { code: "too-large", hint: "The registry misbehaves; tell its operator." });
  }
}
