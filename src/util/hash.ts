import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

export type Digest = `sha256:${string}`;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function sha256Digest(data: string | Uint8Array): Digest {
  return `sha256:${sha256Hex(data)}`;
}

export async function sha256File(file: string): Promise<{ hex: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    size += bytes.length;
  }
  return { hex: hash.digest("hex"), size };
}

/** The OCI digest grammar pypakr accepts: sha256 only, lowercase hex. */
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

export function hexOf(digest: string): string {
  if (!SHA256_DIGEST.test(digest)) throw new Error(`not a sha256 digest: ${digest}`);
  return digest.slice("sha256:".length);
}
