import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";

export type Digest = `sha256:${string}`;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function sha256Digest(data: string | Uint8Array): Digest {
  return `sha256:${sha256Hex(data)}`;
}

/**
 * The sha256 and the length of bytes as they stream by: every place that
 * hashes on the way (blob ingest, extraction, layer writing, tar input)
 * counts with this one, so a digest and its size always come from the same bytes.
 */
export class Sha256Counter {
  private readonly hash = createHash("sha256");
  private finished: string | undefined;
  size = 0;

  update(chunk: Uint8Array): void {
    if (this.finished !== undefined) throw new Error("a finished sha256 was fed more bytes");
    this.hash.update(chunk);
    this.size += chunk.length;
  }

  /** The hex digest of everything fed so far; feeding more afterwards is a bug. */
  hex(): string {
    this.finished ??= this.hash.digest("hex");
    return this.finished;
  }

  digest(): Digest {
    return `sha256:${this.hex()}`;
  }
}

/** Hashes and counts a whole stream (an archive entry, a file). */
export async function sha256Stream(body: AsyncIterable<Buffer>, counter = new Sha256Counter()): Promise<{ hex: string; size: number }> {
  for await (const chunk of body) counter.update(chunk);
  return { hex: counter.hex(), size: counter.size };
}

export async function sha256File(file: string): Promise<{ hex: string; size: number }> {
  return sha256Stream(createReadStream(file) as AsyncIterable<Buffer>);
}

/** A pass-through stage of a pipeline that hashes and counts what goes through it. */
export class Sha256Tap extends Transform {
  readonly counter = new Sha256Counter();

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.counter.update(chunk);
    callback(null, chunk);
  }
}

/** The OCI digest grammar pypakr accepts: sha256 only, lowercase hex. */
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

export function hexOf(digest: string): string {
  if (!SHA256_DIGEST.test(digest)) throw new Error(`not a sha256 digest: ${digest}`);
  return digest.slice("sha256:".length);
}
