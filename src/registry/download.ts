/**
 * Fetching from a registry, verified: a manifest read whole (size-limited,
 * hashed against the digest asked for), and a blob streamed into a file that
 * resumes a cut-off download and is deleted when its bytes are not what the
 * descriptor says. pull (pypakr images into the store) and the runtime fetch
 * of export (ordinary images into a cache) both use these.
 */
import * as fs from "node:fs/promises";
import type { Descriptor } from "../image/index.js";
import { declaredMediaType, MAX_MANIFEST_BYTES, MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST } from "../image/index.js";
import { BlobWriter, OverlongBlobError, type WrittenBlob } from "../util/blob-writer.js";
import { describe, PypakrError } from "../util/errors.js";
import { sha256Digest, type Digest } from "../util/hash.js";
import { readLimited } from "../util/read-limited.js";
import { pullScope } from "./auth.js";
import type { RegistryClient } from "./client.js";
import { dropBody, withRetries, type HttpResponse } from "./http.js";
import type { BlobBar } from "./progress.js";
import type { Reference } from "./reference.js";

export interface ManifestDocument {
  bytes: Buffer;
  digest: Digest;
  json: unknown;
  /** The media type the document declares, else the response's Content-Type ("" when neither). */
  mediaType: string;
}

/** Media types asked for: OCI's and Docker schema 2's (Docker Hub serves those), manifests and indexes; pull refuses all but an OCI manifest by name. */
const ACCEPT = [MEDIA_TYPE_MANIFEST, MEDIA_TYPE_INDEX, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_LIST].join(", ");
/** Tries per blob download: each resumes what the one before got. */
const BLOB_ATTEMPTS = 4;

export class WrongBytesError extends PypakrError {}


/**
 * Fetches a manifest (or index) by tag or digest, read whole up to
 * MAX_MANIFEST_BYTES: its bytes must hash to the digest asked for (or that
 * the registry names). Resolves to the bytes, their digest, the JSON and the
 * media type it declares (else the Content-Type); `refuse` words the error
 * for bytes that are no JSON.
 */
export async function fetchManifestDocument(client: RegistryClient, ref: Reference, source: string, refuse: (problem: string) => PypakrError): Promise<ManifestDocument> {
  const response = await client.fetch({ method: "GET", url: `/v2/${ref.repository}/manifests/${ref.digest ?? ref.tag ?? "latest"}`, headers: { accept: ACCEPT } }, [pullScope(ref.repository)]);
  if (response.status !== 200) throw await client.unexpected(response, `a request for the manifest of ${source}`);
  const tooLarge = () => new PypakrError(`registry ${ref.registry} sent a manifest for ${source} larger than ${MAX_MANIFEST_BYTES} bytes`, { code: "too-large", hint: "No image has a manifest that large; check the reference." });
  // Said up front, a size past the limit is refused before any of it is read.
  if (Number(response.headers["content-length"] ?? 0) > MAX_MANIFEST_BYTES) {
    dropBody(response);
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
    throw refuse(`its manifest is not valid JSON (${describe(error)})`);
  }
  // Read before the manifest schema, to name an index for what it is; any JSON value may come (null, a list).
  const mediaType = declaredMediaType(bytes, response.headers["content-type"]) ?? "";
  return { bytes, digest, json, mediaType };
}

/**
 * Downloads one blob into `file` through a BlobWriter that resumes what is
 * there. Resolves to what was written and the bytes that travelled. Throws
 * WrongBytesError (and deletes the file) when the content is not what the
 * descriptor says.
 */
export async function downloadBlob(client: RegistryClient, ref: Reference, blob: Descriptor, file: string, bar: BlobBar): Promise<{ written: WrittenBlob; travelled: number }> {
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
        dropBody(response);
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


/**
 * downloadBlob with retries (each resuming the last one's bytes), under the
 * client's retry policy; a failure that is not the data's fault ends as
 * registry-transfer-failed with `againHint`. The caller holds `file`'s lock.
 */
export async function downloadWithRetries(client: RegistryClient, ref: Reference, blob: Descriptor, file: string, bar: BlobBar, againHint: string): Promise<{ written: WrittenBlob; travelled: number }> {
  const policy = { ...client.transport.policy, attempts: BLOB_ATTEMPTS };
  const causeOf = (error: unknown) => (error instanceof PypakrError && !(error instanceof WrongBytesError) ? error.cause : error);
  try {
    return await withRetries(policy, () => downloadBlob(client, ref, blob, file, bar), causeOf);
  } catch (error) {
    if (error instanceof PypakrError) throw error;
    throw new PypakrError(`the download of blob ${blob.digest} from registry ${ref.registry} failed: ${describe(error)}`, { code: "registry-transfer-failed", hint: againHint, cause: error });
  }
}
