import { defineCommand } from "../command.js";
import { connection, FLAGS, registryOptions, text } from "../options.js";

export const run = defineCommand("run", "run the image's entry point (with ARGS after --), or with -r another program, in a container's venv (working directory: the container)", {
  ownsSignals: true,
  needsConfig: false,
  options: {
    container: text(FLAGS.container, "container directory (with -i: made from the image unless it already holds it)"),
    image: text(FLAGS.image, "make the container from this image first (file, tag, digest, or registry reference, pulled when missing); without -c it goes under the pypakr dir and is reused"),
    script: text("-r, --script <PROGRAM>", "run PROGRAM instead of the image's entry point: a script relative to the container (./scripts/x) or a command on the venv's PATH (python)"),
    ...registryOptions(),
  },
  arguments: { "[args...]": "arguments (after --) for the entry point (the image's, else ./run), or with -r for PROGRAM, as docker run IMAGE ARGS" },
  passThrough: true,
  async run(options, args) {
    const { image, container, script } = options;
    const dir = image !== undefined ? await containerFor(image, options) : container;
    if (dir === undefined) {
      const { usageError } = await import("../../util/errors.js");
      throw usageError("usage", "run needs a container (-c DIR) or an image (-i IMAGE)", "e.g. pypakr run -c CONT, or pypakr run -i 127.0.0.1:5000/app:1");
    }
    const { runInContainer } = await import("../../run/index.js");
    return runInContainer({ container: dir, ...(script ? { script } : {}), args });
  },
});

/** `run -i`'s container, made (or pulled) under pypakr's own signal handling, which leaves nothing half made; the program then gets the signals. */
async function containerFor(image: string, options: { container?: string | undefined; insecure: boolean; caFile?: string | undefined }): Promise<string> {
  const { cleanUpOnSignals } = await import("../signals.js");
  const { loadConfig } = await import("../../config/index.js");
  const { containerForRun } = await import("../../run/index.js");
  const stopCleanup = cleanUpOnSignals();
  try {
    return await containerForRun(await loadConfig(), { image, container: options.container }, connection(options));
  } finally {
    stopCleanup();
  }
}
