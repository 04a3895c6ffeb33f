import { count } from "../../util/plural.js";
import { defineCommand } from "../command.js";
import { environment, FLAGS, json, required, text } from "../options.js";
import { report } from "../output.js";

export const createImage = defineCommand("create-image", "build an image from a source (a directory or .tar/.tar.gz with setup or requirements.txt)", {
  options: {
    src: required("-s, --src <SOURCE>", "source: a directory or a .tar/.tar.gz holding setup (or requirements.txt / pyproject.toml), run, and app files; .pypakrignore (gitignore syntax) leaves files out, and by default .git, venvs, __pycache__, *.pyc, build/, dist/, *.egg-info and tool caches"),
    image: required(FLAGS.imageFile, "image file to write (an OCI image archive)"),
    tag: text(FLAGS.tag, "name the image (recorded in the archive) and keep it in the store under that name"),
    python: text(FLAGS.python, "interpreter to build with (default: PYPAKR_PYTHON, the config's python, or python3)"),
    env: environment("-e, --env <KEY=VALUE>", "environment variable set when the image runs (repeatable)"),
    compression: text("--compression <HOW>", "how layers are compressed: zstd (default, level 10), zstd:LEVEL (1-19), gzip[:LEVEL] for tools that read no zstd, or max (zstd:19, for releases)"),
    json: json(),
  },
  async run(options, _args, { config }) {
    const { createImage: build } = await import("../../builder/index.js");
    const { formatBytes } = await import("../../util/log.js");
    const { normalizeTag } = await import("../../store/index.js");
    const { parseCompression } = await import("../../image/index.js");
    const tag = options.tag ? normalizeTag(options.tag) : undefined;
    const compression = options.compression ? parseCompression(options.compression) : undefined;
    const image = await build(config, { source: options.src, image: options.image, ...(tag ? { tag } : {}), ...(options.python ? { python: options.python } : {}), environment: options.env, ...(compression ? { compression } : {}) });
    report(image, options, {
      json: ({ file, manifestDigest, archiveSize, layers, distributions }) => ({ image: file, digest: manifestDigest, tag: tag ?? null, size: archiveSize, layers: layers.map(({ digest, size }) => ({ digest, size })), distributions }),
      notice: ({ file, archiveSize, layers, distributions, manifestDigest }) => `wrote ${file} (${formatBytes(archiveSize)}, ${count(layers.length, "layer")}, ${count(distributions.length, "distribution")}) ${manifestDigest}`,
    });
  },
});
