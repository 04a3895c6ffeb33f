/**
 * The docker-archive form (what `docker load` and `podman load` read, and
 * `docker save` writes): manifest.json, the config, and each layer as a
 * plain tar named by its diff_id. Written deterministically and renamed
 * into place only when complete, as image archives are.
 */
import { createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import { fsyncFile, withTempPath } from "../util/fs.js";
import { hexOf, type Digest } from "../util/hash.js";
import { decompressLayer, writeTar } from "../util/tar.js";
import { PypakrError } from "../util/errors.js";

const ARCHIVE_MTIME = new Date(0);
const COPY_BYTES = 1 << 20;

export interface DockerArchiveInput {
  configBytes: Buffer;
  configDigest: Digest;
  /** Each layer's file (any compression) and the diff_id the config lists for it. */
  layers: { file: string; diffId: string }[];
  /** The name `docker load` tags it with (REPO:TAG), if any. */
  repoTag?: string;
}

/** Writes the archive at `target`, with plain layer tars made in `workDir`. Returns its size. */
export async function writeDockerArchive(target: string, input: DockerArchiveInput, workDir: string): Promise<number> {
  const plain: { name: string; file: string; size: number }[] = [];
  for (const layer of input.layers) {
    const file = path.join(workDir, `${hexOf(layer.diffId)}.tar`);
    if (!plain.some((done) => done.file === file)) {
      const { digest, size } = await decompressLayer(layer.file, file);
      if (digest !== layer.diffId) throw new PypakrError(`a layer unpacks to ${digest}, not the ${layer.diffId} its config lists`, { code: "image-invalid", hint: "The runtime image is damaged or was crafted; use another." });
      plain.push({ name: `${hexOf(layer.diffId)}/layer.tar`, file, size });
    }
  }
  const configName = `${hexOf(input.configDigest)}.json`;
  const manifest = [{ Config: configName, RepoTags: input.repoTag ? [input.repoTag] : null, Layers: input.layers.map((layer) => `${hexOf(layer.diffId)}/layer.tar`) }];
  return withTempPath(target, "tmp", async (temp) => {
    await writeTar(
      { mtime: ARCHIVE_MTIME, chunkBytes: COPY_BYTES },
      (packed) => pipeline(packed, createWriteStream(temp, { flags: "wx" })),
      async (writer) => {
        const add = (name: string, bytes: Buffer) => writer.add({ name, type: "file", mode: 0o644, size: bytes.length }, bytes);
        await add("manifest.json", Buffer.from(JSON.stringify(manifest)));
        await add(configName, input.configBytes);
        for (const layer of plain) {
          await writer.add({ name: `${path.posix.dirname(layer.name)}/`, type: "directory", mode: 0o755 });
          await writer.addFile({ name: layer.name, type: "file", mode: 0o644, size: layer.size }, layer.file);
        }
      },
    );
    await fsyncFile(temp);
    const { size } = await fs.stat(temp);
    await fs.rename(temp, target);
    return size;
  });
}
