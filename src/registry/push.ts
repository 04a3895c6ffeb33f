/**
 * `pypakr push`: sends an image's blobs and then its manifest to a registry,
 * sending only what the registry lacks. For each blob: HEAD (there already:
 * skip), else a cross-repository mount from a repository that is known to
 * hold it (store/registry-sources.json), else an upload streamed from the
 * store file: one PUT for small blobs, PATCH chunks with Content-Range for
 * large ones. The manifest goes last, so a tag never names an image whose
 * blobs are not all there; a push cut off half-way is simply run again and
 * HEAD skips what arrived.
 */
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import { Readable } from "node:stream";
import type { Config } from "../config/index.js";
import { type Descriptor, isRepositoryName, MEDIA_TYPE_MANIFEST } from "../image/index.js";
import { acquireImage, blobSources, loadImage, recordBlobSources, Store } from "../store/index.js";
import { PypakrError, usageError } from "../util/errors.js";
import { sha256Digest, type Digest } from "../util/hash.js";
import { forEachLimited } from "../util/pool.js";
import { pullScope, pushScope } from "./auth.js";
import { RegistryClient, type ClientOptions } from "./client.js";
import { withRetries, type RetryPolicy } from "./http.js";
import { transferProgress, type BlobBar, type TransferProgress } from "./progress.js";
import { formatReference, parseReference, type Reference } from "./reference.js";
import { withoutSecrets } from "./secrets.js";

export interface TransferOptions extends ClientOptions {
  /** Blobs in flight at once. */
  concurrency?: number;
  /** Blobs larger than this go up in PATCH chunks of this size. */
  chunkSize?: number;
}

export interface PushResult {
  reference: string;
  digest: Digest;
  uploaded: number;
  skipped: number;
  mounted: number;
  bytesUploaded: number;
}

const DEFAULT_CONCURRENCY = 3;
export const DEFAULT_CHUNK_SIZE = 32 * 1024 * 1024;
/** Tries per blob upload: a cut connection restarts the blob in a fresh upload session. */
const BLOB_ATTEMPTS = 3;

export type BlobOutcome = "skipped" | "mounted" | "uploaded";
/** What a blob upload needs of a descriptor. */
export type BlobToSend = Pick<Descriptor, "digest" | "size">;

/** A file range as a stream that reports each chunk as it is read (so the bar moves as bytes leave). */
function fileRange(file: string, start: number, end: number, onBytes: (bytes: number) => void): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    if (end < start) return;
    for await (const chunk of createReadStream(file, { start, end })) {
      const bytes = chunk as Buffer;
      onBytes(bytes.length);
      yield bytes;
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

export class BlobPusher {
  constructor(
    private readonly client: RegistryClient,
    private readonly target: Reference,
    private readonly chunkSize: number,
  ) {}

  get retryPolicy(): RetryPolicy {
    return this.client.transport.policy;
  }

  private get scopes(): string[] {
    return [pushScope(this.target.repository)];
  }

  private blobsPath(): string {
    return `/v2/${this.target.repository}/blobs/`;
  }

  async exists(blob: BlobToSend): Promise<boolean> {
    const response = await this.client.fetch({ method: "HEAD", url: `${this.blobsPath()}${blob.digest}` }, this.scopes);
    await response.body.dump().catch(() => undefined);
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw await this.client.unexpected(response, `a check for blob ${blob.digest}`);
  }

  /** Asks for a mount from `from`; resolves to true when mounted, else to the upload session the registry opened instead. */
  async mount(blob: BlobToSend, from: string): Promise<true | URL> {
    const url = this.client.transport.url(`${this.blobsPath()}uploads/`);
    url.searchParams.set("mount", blob.digest);
    url.searchParams.set("from", from);
    const response = await this.client.fetch({ method: "POST", url, headers: { "content-length": "0" }, body: () => Buffer.alloc(0) }, [...this.scopes, pullScope(from)]);
    await response.body.dump().catch(() => undefined);
    if (response.status === 201) return true;
    if (response.status === 202) return this.location(response.headers.location, response.url, "a mount");
    throw await this.client.unexpected(response, `a mount of blob ${blob.digest} from ${from}`);
  }

  /**
   * The upload session's URL from a Location header, relative to the answer's own URL. It may
   * name another host: the chunks and the closing PUT then go there without credentials
   * (RegistryClient.fetch), and only over a transport the user allowed (Transport.checkUrl).
   */
  private location(value: string | undefined, base: URL, what: string): URL {
    const hint = "The registry does not follow the OCI distribution spec; tell its operator.";
    if (!value) throw new PypakrError(`registry ${this.target.registry} answered ${what} without an upload location`, { code: "registry-misbehaved", hint });
    let url: URL;
    try {
      url = new URL(value, base);
    } catch {
      throw new PypakrError(`registry ${this.target.registry} answered ${what} with an upload location that is not a URL`, { code: "registry-misbehaved", hint });
    }
    this.client.transport.checkUrl(url, `answered ${what} with an upload location at`);
    return url;
  }

  async startUpload(): Promise<URL> {
    const response = await this.client.fetch({ method: "POST", url: `${this.blobsPath()}uploads/`, headers: { "content-length": "0" }, body: () => Buffer.alloc(0) }, this.scopes);
    await response.body.dump().catch(() => undefined);
    if (response.status !== 202) throw await this.client.unexpected(response, "the start of an upload");
    return this.location(response.headers.location, response.url, "the start of an upload");
  }

  /** Streams the blob into the upload session and closes it with the digest, which the registry checks. */
  async upload(blob: BlobToSend, file: string, session: URL, bar: BlobBar): Promise<void> {
    let location = session;
    let sentBeforeClose = 0;
    if (blob.size > this.chunkSize) {
      for (let start = 0; start < blob.size; start += this.chunkSize) {
        const end = Math.min(blob.size, start + this.chunkSize) - 1;
        const response = await this.client.fetch(
          {
            method: "PATCH",
            url: location,
            headers: { "content-type": "application/octet-stream", "content-length": String(end - start + 1), "content-range": `${start}-${end}` },
            body: () => fileRange(file, start, end, (bytes) => bar.add(bytes)),
          },
          this.scopes,
        );
        await response.body.dump().catch(() => undefined);
        if (response.status !== 202) throw await this.client.unexpected(response, `chunk ${start}-${end} of blob ${blob.digest}`);
        location = this.location(response.headers.location, response.url, "a chunk");
      }
      sentBeforeClose = blob.size;
    }
    const close = new URL(location);
    close.searchParams.set("digest", blob.digest);
    const monolithic = sentBeforeClose === 0;
    const response = await this.client.fetch(
      {
        method: "PUT",
        url: close,
        headers: { "content-type": "application/octet-stream", "content-length": String(monolithic ? blob.size : 0) },
        body: () => (monolithic ? fileRange(file, 0, blob.size - 1, (bytes) => bar.add(bytes)) : Buffer.alloc(0)),
      },
      this.scopes,
    );
    await response.body.dump().catch(() => undefined);
    if (response.status !== 201) throw await this.client.unexpected(response, `the upload of blob ${blob.digest}`);
  }
}

/** The place a push goes: HOST[:PORT]/REPO[:TAG] (tag latest by default), never a digest (the registry computes that). */
export function parsePushTarget(targetText: string): { target: Reference; tag: string } {
  const target = parseReference(targetText);
  if (target.digest) throw usageError("bad-reference", `cannot push to a digest (${targetText})`, "Push to a tag: HOST[:PORT]/REPO[:TAG]; the registry computes the digest.");
  return { target, tag: target.tag ?? "latest" };
}

/** Pushes a stored image (tag or digest) or an image file to `targetText` (HOST[:PORT]/REPO[:TAG]). */
export async function pushImage(config: Config, source: string, targetText: string, options: TransferOptions = {}): Promise<PushResult> {
  const { target, tag } = parsePushTarget(targetText);
  return withoutSecrets(async () => {
    const store = await Store.open(config);
    const { digest, lease } = await acquireImage(store, source);
    const client = new RegistryClient(target.registry, options);
    const bars = await transferProgress("push");
    try {
      const image = await loadImage(store, digest);
      const blobs = [image.manifest.config, ...image.manifest.layers].filter((blob, i, all) => all.findIndex((other) => other.digest === blob.digest) === i);
      const pusher = new BlobPusher(client, target, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
      const { counts, bytesUploaded } = await sendBlobs(blobs, options, bars, (blob, bar) => pushBlob(store, pusher, target, blob, image.blobFile(blob.digest), bar));
      bars.stop();
      const manifestBytes = await fs.readFile(image.blobFile(digest));
      await putManifest(client, target, tag, manifestBytes, MEDIA_TYPE_MANIFEST);
      await recordBlobSources(store, target.registry, target.repository, blobs.map((blob) => blob.digest));
      return { reference: formatReference({ ...target, tag }), digest, uploaded: counts.uploaded, skipped: counts.skipped, mounted: counts.mounted, bytesUploaded };
    } finally {
      bars.stop();
      await client.close();
      await lease.release();
    }
  });
}

async function pushBlob(store: Store, pusher: BlobPusher, target: Reference, blob: BlobToSend, file: string, bar: BlobBar): Promise<BlobOutcome> {
  if (await pusher.exists(blob)) return "skipped";
  let session: URL | undefined;
  // The store's hint file is not trusted to hold only repository names: a name goes into a token
  // scope ("repository:NAME:pull") and the mount's query, so anything else is skipped.
  const sources = (await blobSources(store, target.registry, blob.digest)).filter((name) => name !== target.repository && isRepositoryName(name));
  for (const from of sources.slice(0, 3)) {
    const mounted = await pusher.mount(blob, from);
    if (mounted === true) return "mounted";
    session = mounted;
    break; // the registry opened a plain upload instead: use it rather than asking again
  }
  return uploadBlob(pusher, blob, file, bar, session);
}

/**
 * Uploads a blob the registry lacks (in `session` when a refused mount opened
 * one), with retries: a cut connection starts over in a fresh session.
 */
export async function uploadBlob(pusher: BlobPusher, blob: BlobToSend, file: string, bar: BlobBar, session?: URL): Promise<"uploaded"> {
  return withRetries(
    { ...pusher.retryPolicy, attempts: BLOB_ATTEMPTS },
    async (attempt) => {
      // After a failed try the session may hold part of the blob in an unknown state: start a fresh one.
      await pusher.upload(blob, file, (attempt === 1 ? session : undefined) ?? (await pusher.startUpload()), bar);
      return "uploaded" as const;
    },
    (error) => (error instanceof PypakrError ? error.cause : error),
  );
}

/** Sends each blob (`send` says how it went), a few at a time, each with its progress bar. */
export async function sendBlobs(blobs: BlobToSend[], options: TransferOptions, bars: TransferProgress, send: (blob: BlobToSend, bar: BlobBar) => Promise<BlobOutcome>): Promise<{ counts: Record<BlobOutcome, number>; bytesUploaded: number }> {
  const counts: Record<BlobOutcome, number> = { skipped: 0, mounted: 0, uploaded: 0 };
  let bytesUploaded = 0;
  await forEachLimited(blobs, options.concurrency ?? DEFAULT_CONCURRENCY, async (blob) => {
    const bar = bars.bar(blob.digest.slice(7, 19), blob.size);
    const outcome = await send(blob, bar);
    counts[outcome] += 1;
    if (outcome === "uploaded") bytesUploaded += blob.size;
    bar.finish(outcome === "uploaded" ? "done" : outcome === "skipped" ? "exists" : "mounted");
  });
  return { counts, bytesUploaded };
}

/**
 * Puts the manifest under `tag`, last (its blobs are all there by now), and
 * checks the registry kept it byte for byte: a digest it names must be the
 * bytes' own. Resolves to that digest.
 */
export async function putManifest(client: RegistryClient, target: Reference, tag: string, bytes: Buffer, mediaType: string): Promise<Digest> {
  const digest = sha256Digest(bytes);
  const response = await client.fetch(
    { method: "PUT", url: `/v2/${target.repository}/manifests/${tag}`, headers: { "content-type": mediaType, "content-length": String(bytes.length) }, body: () => bytes, idempotent: true },
    [pushScope(target.repository)],
  );
  await response.body.dump().catch(() => undefined);
  if (response.status !== 201 && response.status !== 200) throw await client.unexpected(response, `the manifest for ${tag}`);
  const said = response.headers["docker-content-digest"];
  if (said && said.startsWith("sha256:") && said !== digest) {
    throw new PypakrError(`registry ${target.registry} stored the manifest under ${said}, but it is ${digest}`, { code: "registry-misbehaved", hint: "The registry changed the manifest; images must stay byte-identical. Use another registry." });
  }
  return digest;
}
