import { count } from "../../util/plural.js";
import { usageError } from "../../util/errors.js";
import { writeErr, writeJson } from "../../util/log.js";
import type { CommandSpec } from "../command.js";
import { parseCompression, type Compression } from "../../image/compression.js";

function collectEnv(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
  if (!match) throw usageError("usage", `--env "${value}" is not KEY=VALUE`, "Write it as --env NAME=value.");
  return { ...previous, [match[1] ?? ""]: match[2] ?? "" };
}

export const createImage: CommandSpec = {
  name: "create-image",
  summary: "build an image from a source (a directory or .tar/.tar.gz with setup or requirements.txt)",
  define(command) {
    command
      .requiredOption("-s, --src <SOURCE>", "source: a directory or a .tar/.tar.gz holding setup (or requirements.txt / pyproject.toml), run, and app files; .pypakrignore (gitignore syntax) leaves files out, and by default .git, venvs, __pycache__, *.pyc, build/, dist/, *.egg-info and tool caches")
      .requiredOption("-i, --image <IMAGE.tar>", "image file to write (an OCI image archive)")
      .option("-t, --tag <NAME:TAG>", "name the image (recorded in the archive) and keep it in the store under that name")
      .option("--python <PATH>", "interpreter to build with (default: PYPAKR_PYTHON, the config's python, or python3)")
      .option("-e, --env <KEY=VALUE>", "environment variable set when the image runs (repeatable)", collectEnv)
      .option("--compression <HOW>", "how layers are compressed: zstd (default, level 3), zstd:LEVEL (1-19), gzip[:LEVEL] for tools that read no zstd, or max (zstd:19, for releases)", parseCompression)
      .option("--json", "print the result as JSON");
  },
  async run(options, _args, { config }) {
    const { createImage: build } = await import("../../builder/create-image.js");
    const { formatBytes } = await import("../../util/log.js");
    const { normalizeTag } = await import("../../store/images.js");
    const tag = options.tag ? normalizeTag(options.tag as string) : undefined;
    const image = await build(config, {
      source: options.src as string,
      image: options.image as string,
      ...(tag ? { tag } : {}),
      ...(options.python ? { python: options.python as string } : {}),
      environment: (options.env as Record<string, string> | undefined) ?? {},
      ...(options.compression ? { compression: options.compression as Compression } : {}),
    });
    if (options.json) {
      const summary = {
        image: image.file,
        digest: image.manifestDigest,
        tag: tag ?? null,
        size: image.archiveSize,
        layers: image.layers.map((layer) => ({ digest: layer.digest, size: layer.size })),
        distributions: image.distributions,
      };
      writeJson(summary);
    } else {
      writeErr(`pypakr: wrote ${image.file} (${formatBytes(image.archiveSize)}, ${count(image.layers.length, "layer")}, ${count(image.distributions.length, "distribution")}) ${image.manifestDigest}\n`);
    }
  },
};
