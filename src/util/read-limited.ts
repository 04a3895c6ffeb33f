/**
 * Reads a whole (small) body into memory, refusing one longer than `limit`:
 * what a registry, an archive or an image sends must not fill memory. The
 * first chunk past the limit throws `tooLarge()` and stops the read (leaving
 * a for-await loop destroys a stream). `seen.size` tells a caller whose read
 * failed otherwise how far it got.
 */
export async function readLimited(body: AsyncIterable<Buffer>, limit: number, tooLarge: () => Error, seen = { size: 0 }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    seen.size += chunk.length;
    if (seen.size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
