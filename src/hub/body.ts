/**
 * Request bodies, read whole but bounded: a declared length past the limit
 * is refused before a byte is read, and a body that runs past it (chunked,
 * or lying about its length) is cut off at the limit. The caller answers
 * 413 to a TooLarge.
 */
import type { IncomingMessage } from "node:http";
import { readLimited } from "../util/read-limited.js";

/** Form posts and the API's JSON writes (a description is at most 32 KiB of Markdown; the form's percent-encoding adds to it). */
export const MAX_FORM_BYTES = 64 * 1024;
/** A notification envelope (2.8 sends one ~1 KB event per request; other registries batch). */
export const MAX_EVENTS_BYTES = 1024 * 1024;

export class TooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}

export async function readLimitedBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = request.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    request.resume();
    throw new TooLarge(limit);
  }
  // Resumed before the throw so the rest of the body is drained, as for a declared length.
  return readLimited(request as AsyncIterable<Buffer>, limit, () => {
    request.resume();
    return new TooLarge(limit);
  });
}

/** An application/x-www-form-urlencoded body's fields (the first of each name); null for another content type. */
export function parseForm(request: IncomingMessage, body: Buffer): Map<string, string> | null {
  const type = (request.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return null;
  const fields = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body.toString("utf8"))) if (!fields.has(name)) fields.set(name, value);
  return fields;
}
