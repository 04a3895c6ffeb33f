/**
 * `pypakr pull`: fetches an image's manifest, then only the blobs the store
 * lacks, verifying each against its digest before anything uses it.
 *
 * Blobs download into store/partial/<hex>, which outlives a failed pull: a
 * pull run again resumes a cut-off blob with a Range request (and skips a
 * finished one), then hashes the whole blob. Bytes that do not match their
 * digest, or a body longer than the descriptor says, are deleted at once.
 * Nothing enters the store proper until the whole image is there and
 * validated (openImage: the pypakr config, sizes, tables); then every blob is
 * moved in and the image recorded and tagged in one index update.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import { checkOutputFile, type Config } from "../config/index.js";
import { describeSchemaError } from "../util/json.js";
import { type BlobSource, checkLayers, type Descriptor, type Image, type ImageManifest, manifestSchema, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, notAnImage, openImage, saveImage } from "../image/index.js";
import { loadImage, lockPartialBlob, recordBlobSources, Store, tagsOf } from "../store/index.js";
import { BlobWriter, OverlongBlobError, writeBlob, type WrittenBlob } from "../util/blob-writer.js";
import { describe, PypakrError } from "../util/errors.js";
import { lstatOrNull, removeTree } from "../util/fs.js";
import { hexOf, sha256Digest, type Digest } from "../util/hash.js";
import { readLimited } from "../util/read-limited.js";
import { forEachLimited } from "../util/pool.js";
import { pullScope } from "./auth.js";
import { RegistryClient } from "./client.js";
import { withRetries, type HttpResponse } from "./http.js";
import { transferProgress, type BlobBar } from "./progress.js";
import type { TransferOptions } from "./push.js";
import { formatReference, localTag, parseReference, type Reference } from "./reference.js";
import { withoutSecrets } from "./secrets.js";

export interface PullOptions extends TransferOptions {
  /** Also write the image as an archive here (as `pypakr save` would). */
  output?: string;
}

export interface PullResult {
  reference: string;
  digest: Digest;
  /** The local tag it was stored under (none for a pull by digest). */
  tag?: string;
  downloaded: number;
  present: number;
  bytesDownloaded: number;
}

/** Media types asked for: ours, and the ones a wrong reference is likely to name, so the error can say what it is. */
const ACCEPT = [MEDIA_TYPE_MANIFEST, MEDIA_TYPE_INDEX, "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"].join(", ");
const BLOB_ATTEMPTS = 4;

class WrongBytesError extends PypakrError {}

/** The media type a manifest or index names for itself. */
const declaredMediaTypeSchema = z.object({ mediaType: z.string() });

/** Fetches and checks the manifest: its bytes must hash to the digest asked for (or that the registry names). */
async function fetchManifest(client: RegistryClient, ref: Reference, source: string): Promise<{ bytes: Buffer; digest: Digest; manifest: ImageManifest }> {
  const response = await client.fetch({ method: "GET", url: `/v2/${ref.repository}/manifests/${ref.digest ?? ref.tag ?? "latest"}`, headers: { accept: ACCEPT } }, [pullScope(ref.repository)]);
  if (response.status !== 200) throw await client.unexpected(response, `a request for the manifest of ${source}`);
  const tooLarge = () => new PypakrError(`registry ${ref.registry} sent a manifest for ${source} larger than ${MAX_MANIFEST_BYTES} bytes`, { code: "too-large", hint: "That is no pypakr image; check the reference." });
  // Said up front, a size past the limit is refused before any of it is read.
  if (Number(response.headers["content-length"] ?? 0) > MAX_MANIFEST_BYTES) {
    response.body.destroy();
    throw tooLarge();
  }
  const seen = { size: 0 };
  let bytes: Buffer;
  try {
    bytes = await readLimited(response.body as AsyncIterable<Buffer>, MAX_MANIFEST_BYTES, tooLarge, seen);
  } catch (error) {
    // The connection failing mid-body (a registry that hangs up) is the registry's doing, not a bug here.
    if (error instanceof PypakrError) throw error;
    throw new PypakrError(`registry ${ref.registry} cut off the manifest of ${source} after ${seen.size} bytes: ${describe(error)}`, {
      code: "registry-transfer-failed",
      hint: "Try again; if it keeps failing, the registry or the network to it misbehaves.",
      cause: error,
    });
  }
  const digest = sha256Digest(bytes);
  const named = ref.digest ?? response.headers["docker-content-digest"];
  if (named && named.startsWith("sha256:") && named !== digest) {
    throw new PypakrError(`registry ${ref.registry} sent a manifest for ${source} that does not match its digest ${named} (the bytes hash to ${digest})`, {
      code: "registry-bad-data",
      hint: "The registry or something between it and you altered the data; nothing was kept. Try again, or tell the registry's operator.",
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw notAnImage(source, `its manifest is not valid JSON (${describe(error)})`);
  }
  // Read before the manifest schema, to name an index for what it is; any JSON value may come (null, a list).
  const declared = declaredMediaTypeSchema.safeParse(json);
  const mediaType = declared.success ? declared.data.mediaType : (response.headers["content-type"] ?? "");
  if (mediaType.includes("index") || mediaType.includes("manifest.list")) {
    throw notAnImage(source, "it is a multi-platform index, and a pypakr image has one manifest", "Pull an image that pypakr push put there, or make one with pypakr create-image.");
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw notAnImage(source, `its manifest is not a pypakr image manifest: ${describeSchemaError(parsed.error)}`);
  return { bytes, digest, manifest: parsed.data };
}

/**
 * Downloads one blob into `file` through a BlobWriter that resumes what is
 * there. Resolves to what was written and the bytes that travelled. Throws
 * WrongBytesError (and deletes the file) when the content is not what the
 * descriptor says.
 */
async function downloadBlob(client: RegistryClient, ref: Reference, blob: Descriptor, file: string, bar: BlobBar): Promise<{ written: WrittenBlob; travelled: number }> {
  const writer = await BlobWriter.resume(file, blob.size);
  const wrong = async (problem: string) => {
    await writer.abort();
    return new WrongBytesError(`registry ${ref.registry} sent wrong bytes for blob ${blob.digest} of ${ref.repository}: ${problem}`, {
      code: "registry-bad-data",
      hint: "The registry or something between it and you altered the data; nothing of it was kept. Try again, or tell the registry's operator.",
    });
  };
  let travelled = 0;
  try {
    bar.add(writer.size);
    if (writer.size < blob.size) {
      const resumeAt = writer.size;
      const headers: Record<string, string> = resumeAt > 0 ? { range: `bytes=${resumeAt}-` } : {};
      const response: HttpResponse = await client.fetch({ method: "GET", url: `/v2/${ref.repository}/blobs/${blob.digest}`, headers }, [pullScope(ref.repository)]);
      if (response.status === 416 && resumeAt > 0) {
        // The registry will not resume: start over.
        await response.body.dump().catch(() => undefined);
        await writer.abort();
        return downloadBlob(client, ref, blob, file, bar);
      }
      if (response.status === 200 && resumeAt > 0) {
        // A whole body in answer to a range: the registry does not resume, so keep none of the old bytes.
        await writer.restart();
      } else if (response.status === 206) {
        const start = /^bytes (\d+)-/.exec(response.headers["content-range"] ?? "")?.[1];
        if (Number(start) !== resumeAt) {
          await response.body.dump().catch(() => undefined);
          throw await wrong(`it answered a request for bytes from ${resumeAt} with ${response.headers["content-range"] ?? "no Content-Range"}`);
        }
      } else if (response.status !== 200) {
        throw await client.unexpected(response, `a request for blob ${blob.digest}`);
      }
      // A length that cannot be the blob's is refused before any byte is kept (it could also be a terabyte).
      const announced = response.headers["content-length"];
      if (announced !== undefined && Number(announced) !== blob.size - writer.size) {
        response.body.destroy();
        throw await wrong(`it announced ${announced} bytes where ${blob.size - writer.size} were due`);
      }
      try {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          await writer.write(chunk);
          travelled += chunk.length;
          bar.add(chunk.length);
        }
      } catch (error) {
        // A body longer than the descriptor: stop reading (leaving the loop did), it could be endless.
        if (error instanceof OverlongBlobError) throw await wrong(`it sent more than the ${blob.size} bytes the manifest gives`);
        throw error;
      }
      if (writer.size < blob.size) {
        const error = new Error(`the body ended after ${writer.size} of ${blob.size} bytes`) as NodeJS.ErrnoException;
        error.code = "ECONNRESET";
        throw error;
      }
    }
    const written = await writer.finish();
    if (written.digest !== blob.digest) throw await wrong(`the ${blob.size} bytes hash to ${written.digest}`);
    return { written, travelled };
  } finally {
    // Kept (closed) for the next try to resume, unless `wrong` removed it; a file with nothing to resume from is not kept.
    await writer.finish().catch(() => undefined);
    if (writer.size === 0) await fs.rm(file, { force: true });
  }
}

function partialFile(store: Store, digest: string): string {
  return path.join(store.partialDir, hexOf(digest));
}

/**
 * One blob into partial/, under a per-blob lock (two pulls of the same blob
 * must not write one file), with retries that resume. The finished file is
 * hard-linked into this pull's `work` dir, so another pull of the same blob
 * may take the store's copy in the meantime without pulling it from under
 * this one. A blob another pull stored while this one waited is not
 * fetched (file: null): the store's copy serves.
 */
async function fetchBlob(store: Store, client: RegistryClient, ref: Reference, blob: Descriptor, bar: BlobBar, work: string): Promise<{ written: WrittenBlob | null; bytes: number }> {
  const file = partialFile(store, blob.digest);
  const release = await lockPartialBlob(file);
  try {
    if ((await store.blobSize(blob.digest)) === blob.size) return { written: null, bytes: 0 };
    const policy = { ...client.transport.policy, attempts: BLOB_ATTEMPTS };
    const causeOf = (error: unknown) => (error instanceof PypakrError && !(error instanceof WrongBytesError) ? error.cause : error);
    try {
      return await withRetries(
        policy,
        async () => {
          const { written, travelled } = await downloadBlob(client, ref, blob, file, bar);
          const own = path.join(work, hexOf(blob.digest));
          await fs.link(file, own);
          return { written: { ...written, file: own }, bytes: travelled };
        },
        causeOf,
      );
    } catch (error) {
      if (error instanceof PypakrError) throw error;
      throw new PypakrError(`the download of blob ${blob.digest} from registry ${ref.registry} failed: ${describe(error)}`, {
        code: "registry-transfer-failed",
        hint: "Run the same pull again: it resumes where this one stopped.",
        cause: error,
      });
    }
  } finally {
    await release().catch(() => undefined);
  }
}

/** Removes a finished partial download (under its lock, so no other pull is reading it). */
async function dropPartial(store: Store, digest: string): Promise<void> {
  const file = partialFile(store, digest);
  const release = await lockPartialBlob(file);
  try {
    await fs.rm(file, { force: true });
  } finally {
    await release().catch(() => undefined);
  }
}

/** Runs a validation; when it rejects the image, deletes what was downloaded for it (nothing of an unusable image is kept). */
async function forgetIfRejected<T>(store: Store, fetched: Map<string, WrittenBlob>, validate: () => Promise<T>): Promise<T> {
  try {
    return await validate();
  } catch (error) {
    await Promise.all([...fetched.keys()].map((blob) => dropPartial(store, blob)));
    throw error;
  }
}

/** Pulls `refText` (HOST[:PORT]/REPO[:TAG|@DIGEST]) into the store. */
export async function pullImage(config: Config, refText: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(refText);
  const source = formatReference(ref);
  if (options.output) await checkOutputFile(config, path.resolve(options.output), "-o");
  return withoutSecrets(async () => {
    const store = await Store.open(config);
    await fs.mkdir(store.partialDir, { recursive: true });
    const client = new RegistryClient(ref.registry, options);
    const work = store.tempPath("pull");
    await fs.mkdir(work);
    const bars = await transferProgress("pull");
    try {
      const { bytes, digest, manifest } = await fetchManifest(client, ref, source);
      const blobs = [manifest.config, ...manifest.layers].filter((blob, i, all) => all.findIndex((other) => other.digest === blob.digest) === i);
      const fetched = new Map<string, WrittenBlob>([[digest, await writeBlob(path.join(work, hexOf(digest)), bytes)]]);
      const where: BlobSource = {
        size: async (blob) => {
          const written = fetched.get(blob);
          return written ? (await lstatOrNull(written.file))?.size : store.blobSize(blob);
        },
        file: (blob) => fetched.get(blob)?.file ?? store.blobFile(blob),
      };
      const missing: Descriptor[] = [];
      for (const blob of blobs) if ((await store.blobSize(blob.digest)) !== blob.size) missing.push(blob);
      const descriptor: Descriptor = { mediaType: MEDIA_TYPE_MANIFEST, digest, size: bytes.length };
      // What each blob must be when it is committed: the sizes the manifest gives.
      const sizes = new Map<string, number>([[digest, bytes.length], ...blobs.map((blob) => [blob.digest, blob.size] as const)]);

      // The config first and alone: an image pypakr cannot use is refused before any layer travels.
      let bytesDownloaded = 0;
      const config = missing.find((blob) => blob.digest === manifest.config.digest);
      if (config) {
        if (config.size > MAX_CONFIG_BYTES) throw notAnImage(source, `its config is ${config.size} bytes, more than a pypakr config can be`);
        const bar = bars.bar(config.digest.slice(7, 19), config.size);
        const got = await fetchBlob(store, client, ref, config, bar, work);
        bar.finish("done");
        if (got.written) fetched.set(config.digest, got.written);
        bytesDownloaded += got.bytes;
      }
      const pending = new Map(missing.filter((blob) => blob.digest !== manifest.config.digest).map((blob) => [blob.digest, blob]));
      await forgetIfRejected(store, fetched, () =>
        openImage(source, descriptor, {
          // Layers not fetched yet count as present with their stated size; they are checked for real below.
          size: async (blob) => pending.get(blob)?.size ?? where.size(blob),
          file: (blob) => where.file(blob),
        }),
      );

      await forEachLimited(
        [...pending.values()],
        options.concurrency ?? 3,
        async (blob) => {
          const bar = bars.bar(blob.digest.slice(7, 19), blob.size);
          const got = await fetchBlob(store, client, ref, blob, bar, work);
          if (got.written) fetched.set(blob.digest, got.written);
          bytesDownloaded += got.bytes;
          bar.finish("done");
        },
      );
      bars.stop();
      // Layers are checked entry by entry before the store takes them, as load does (see readImageArchive).
      const image = await forgetIfRejected(store, fetched, async () => {
        const opened = await openImage(source, descriptor, where);
        await checkLayers(opened, (blob) => fetched.has(blob), store.limits.layerEntries);
        return opened;
      });
      const tag = localTag(ref);
      await store.updateIndex(async (index) => {
        for (const [blob, written] of fetched) await store.commitBlob(written, { digest: blob, size: sizes.get(blob) ?? -1 });
        index.images[digest] ??= { stored: new Date().toISOString() };
        if (tag) index.tags[tag] = digest;
      });
      // Stored now: the partial downloads have served (the manifest was written straight to work/).
      for (const blob of fetched.keys()) if (blob !== digest) await dropPartial(store, blob);
      await recordBlobSources(store, ref.registry, ref.repository, blobs.map((blob) => blob.digest));
      if (options.output) await writeArchive(store, image, digest, tag, options.output);
      return { reference: source, digest, ...(tag ? { tag } : {}), downloaded: missing.length, present: blobs.length - missing.length, bytesDownloaded };
    } finally {
      bars.stop();
      await client.close();
      await removeTree(work);
    }
  });
}

/** The archive `pypakr save` would write for the same name: tagged with the pulled tag, else the image's first tag. */
async function writeArchive(store: Store, pulled: Image, digest: Digest, tag: string | undefined, output: string): Promise<void> {
  const image = await loadImage(store, digest).catch(() => pulled);
  await saveImage(image, path.resolve(output), tag ?? tagsOf(await store.readIndex(), digest)[0]);
}
