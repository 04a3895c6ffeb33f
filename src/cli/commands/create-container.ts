import { Option } from "commander";
import { writeErr, writeJson } from "../../util/log.js";
import type { CommandSpec } from "../command.js";
import { defineRegistryOptions, registryOptions } from "../registry-options.js";

export const createContainer: CommandSpec = {
  name: "create-container",
  summary: "make a runnable, relocated venv directory from an image",
  define(command) {
    command
      .requiredOption("-i, --image <IMAGE>", "image file, a stored image's tag or digest, or a registry reference (HOST[:PORT]/REPO[:TAG|@DIGEST], pulled when missing)")
      .requiredOption("-c, --container <DIR>", "directory to create; must not exist or be empty")
      .option("--force", "replace DIR if it holds a pypakr container (only once the new one is complete); never other files")
      .addOption(
        new Option("--link <MODE>", "how files installed from distributions (and the base's) are placed: auto (reflink, else hard link), reflink, hardlink, copy; never edit a hard-linked one in place. App files are always the container's own copy")
          .choices(["auto", "reflink", "hardlink", "copy"])
          .default("auto"),
      );
    defineRegistryOptions(command).option("--json", "print the result as JSON");
  },
  async run(options, _args, { config }) {
    const { createContainer: create } = await import("../../container/index.js");
    const { looksLikeRegistryReference } = await import("../../registry/index.js");
    let image = options.image as string;
    // Only a registry-shaped argument can need a pull; the rest goes to create-container as before.
    if (looksLikeRegistryReference(image)) {
      const { ensureLocalImage } = await import("../../registry/index.js");
      image = (await ensureLocalImage(config, image, registryOptions(options))).image;
    }
    const created = await create(config, {
      image,
      container: options.container as string,
      force: Boolean(options.force),
      link: options.link as "auto" | "reflink" | "hardlink" | "copy",
    });
    if (options.json) {
      writeJson({ container: created.dir, image: created.image.manifestDigest, base: created.base.kind, link: created.link });
    } else {
      writeErr(`pypakr: created container ${created.dir}\n`);
    }
  },
};
