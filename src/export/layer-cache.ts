/**
 * Exported layers kept for the next export: each is a pure function of what
 * its key names (a pypakr layer's digest, the venv path, the compression,
 * the runtime's digest...), so it is made once and then read from
 * PYPAKRDIR/runtimes/layers. A layer and its description are renamed into
 * place whole; one whose file does not have the recorded size is made again.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as z from "zod";
import type { WrittenLayer } from "../image/index.js";
import { sha256Hex, SHA256_DIGEST } from "../util/hash.js";
import { tryParseJson } from "../util/json.js";
import { writeFileAtomic } from "../util/fs.js";
import { siblingTempPath } from "../util/temp-names.js";

const recordSchema = z.object({
  digest: z.string().regex(SHA256_DIGEST),
  diffId: z.string().regex(SHA256_DIGEST),
  size: z.number().int().nonnegative(),
  mediaType: z.enum(["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+zstd"]),
});

export class LayerCache {
  constructor(private readonly dir: string) {}

  private files(key: unknown): { file: string; record: string; name: string } {
    const name = sha256Hex(JSON.stringify(key));
    return { name, file: path.join(this.dir, `${name}.layer`), record: path.join(this.dir, `${name}.json`) };
  }

  /** The layer kept for `key`, or null. */
  async get(key: unknown): Promise<WrittenLayer | null> {
    const { file, record: recordFile } = this.files(key);
    const record = tryParseJson((await fs.readFile(recordFile, "utf8").catch(() => "")) || "null", recordSchema);
    if (record && (await fs.stat(file).catch(() => null))?.size === record.size) return { ...record, file } as WrittenLayer;
    return null;
  }

  /** Keeps a copy of `made` for `key`; returns the kept one. */
  async put(key: unknown, made: WrittenLayer): Promise<WrittenLayer> {
    const { file, record } = this.files(key);
    await fs.mkdir(this.dir, { recursive: true });
    const temp = siblingTempPath(file, "cache");
    await fs.copyFile(made.file, temp);
    await fs.rename(temp, file);
    await writeFileAtomic(record, JSON.stringify({ digest: made.digest, diffId: made.diffId, size: made.size, mediaType: made.mediaType }));
    return { ...made, file };
  }
}
