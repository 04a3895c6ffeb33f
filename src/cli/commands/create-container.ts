import { defineCommand } from "../command.js";
import { choice, connection, FLAGS, flag, json, registryOptions, required } from "../options.js";
import { report } from "../output.js";

export const createContainer = defineCommand("create-container", "make a runnable, relocated venv directory from an image", {
  options: {
    image: required(FLAGS.image, "image file, a stored image's tag or digest, or a registry reference (HOST[:PORT]/REPO[:TAG|@DIGEST], pulled when missing)"),
    container: required(FLAGS.container, "directory to create; must not exist or be empty"),
    force: flag("--force", "replace DIR if it holds a pypakr container (only once the new one is complete); never other files"),
    link: choice(
      "--link <MODE>",
      "how files installed from distributions (and the base's) are placed: auto (reflink, else hard link), reflink, hardlink, copy; never edit a hard-linked one in place. App files are always the container's own copy",
      ["auto", "reflink", "hardlink", "copy"],
      "auto",
    ),
    ...registryOptions(),
    json: json(),
  },
  async run(options, _args, { config }) {
    const { createContainerFrom } = await import("../../run/index.js");
    const { image, container, force, link } = options;
    report(await createContainerFrom(config, { image, container, force, link }, connection(options)), options, {
      json: (created) => ({ container: created.dir, image: created.image.manifestDigest, base: created.base.kind, link: created.link }),
      notice: (created) => `created container ${created.dir}`,
    });
  },
});
