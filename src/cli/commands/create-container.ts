import type { CommandSpec } from "../command.js";

export const createContainer: CommandSpec = {
  name: "create-container",
  summary: "make a runnable, relocated venv directory from an image",
  define(command) {
    command
      .requiredOption("-i, --image <IMAGE.tar>", "image file (made by create-image)")
      .requiredOption("-c, --container <DIR>", "directory to create; must not exist or be empty")
      .option("--force", "replace DIR if it exists and is not empty (only once the new one is complete)")
      .option("--json", "print the result as JSON");
  },
  async run(options, _args, { config }) {
    const { createContainer: create } = await import("../../container/container.js");
    const created = await create(config, { image: options.image as string, container: options.container as string, force: Boolean(options.force) });
    if (options.json) {
      process.stdout.write(JSON.stringify({ container: created.dir, image: created.image.manifestDigest, base: created.base.kind }, null, 2) + "\n");
    } else {
      process.stderr.write(`pypakr: created container ${created.dir}\n`);
    }
  },
};
