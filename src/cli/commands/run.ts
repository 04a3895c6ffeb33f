import type { CommandSpec } from "../command.js";
import { defineRegistryOptions, registryOptions } from "../registry-options.js";

/**
 * `run -i IMAGE`: the container for an image, made on first use (pulling the
 * image when it is a registry reference the store lacks), as `docker run`
 * does. Without -c it lives under the pypakr dir, one per image, and is
 * reused while it holds that image.
 */
async function containerFor(options: Record<string, unknown>): Promise<string> {
  const path = await import("node:path");
  const { loadConfig } = await import("../../config/index.js");
  const { ensureLocalImage } = await import("../../registry/index.js");
  const { Store } = await import("../../store/index.js");
  const { addImageArchive } = await import("../../store/index.js");
  const { readContainerRecord } = await import("../../container/index.js");
  const { createContainer } = await import("../../container/index.js");
  const { cleanUpOnSignals } = await import("../signals.js");
  const { looksLikeDigest } = await import("../../image/index.js");
  const config = await loadConfig();
  const arg = options.image as string;
  const stopCleanup = cleanUpOnSignals();
  try {
    const local = await ensureLocalImage(config, arg, registryOptions(options));
    // An image file is loaded, so that its digest names the container and a second run finds it.
    const digest = local.digest ?? (await addImageArchive(await Store.open(config), arg)).digest;
    const explicit = typeof options.container === "string";
    const dir = explicit ? path.resolve(options.container as string) : path.join(config.pypakrDir, "containers", `${containerName(arg, looksLikeDigest)}-${digest.slice(7, 19)}`);
    const record = await readContainerRecord(dir).catch(() => null);
    if (record?.image.digest === digest) return dir;
    // The default directory is pypakr's own: one that is half made or holds something else is replaced.
    await createContainer(config, { image: digest, container: dir, force: !explicit });
    return dir;
  } finally {
    stopCleanup();
  }
}

/** A readable directory name for an image argument: the repository's or file's last name. */
function containerName(arg: string, looksLikeDigest: (text: string) => boolean): string {
  const last = arg.replace(/@.*$/, "").split("/").pop() ?? "";
  const name = last.replace(/\.tar(\.gz)?$/, "").replace(/:.*$/, "").replace(/[^A-Za-z0-9._-]/g, "");
  return looksLikeDigest(name) || !name ? "image" : name;
}

export const run: CommandSpec = {
  name: "run",
  summary: "run the image's entry point (with ARGS after --), or with -r another program, in a container's venv (working directory: the container)",
  ownsSignals: true,
  needsConfig: false,
  define(command) {
    command
      .option("-c, --container <DIR>", "container directory (with -i: made from the image unless it already holds it)")
      .option("-i, --image <IMAGE>", "make the container from this image first (file, tag, digest, or registry reference, pulled when missing); without -c it goes under the pypakr dir and is reused")
      .option("-r, --script <PROGRAM>", "run PROGRAM instead of the image's entry point: a script relative to the container (./scripts/x) or a command on the venv's PATH (python)");
    defineRegistryOptions(command)
      .argument("[args...]", "arguments (after --) for the entry point (the image's, else ./run), or with -r for PROGRAM, as docker run IMAGE ARGS")
      .passThroughOptions();
  },
  async run(options, args) {
    if (options.container === undefined && options.image === undefined) {
      const { usageError } = await import("../../util/errors.js");
      throw usageError("usage", "run needs a container (-c DIR) or an image (-i IMAGE)", "e.g. pypakr run -c CONT, or pypakr run -i 127.0.0.1:5000/app:1");
    }
    const container = options.image !== undefined ? await containerFor(options) : (options.container as string);
    const { runInContainer } = await import("../../run/index.js");
    return runInContainer({ container, ...(options.script ? { script: options.script as string } : {}), args });
  },
};
