import { count } from "../../util/plural.js";
import { writeJson, writeOut } from "../../util/log.js";
import { show } from "../../util/printable.js";
import type { CommandSpec } from "../command.js";
import { defineRegistryOptions, registryOptions } from "../registry-options.js";

export const push: CommandSpec = {
  name: "push",
  summary: "send an image to a registry (only the blobs it lacks travel)",
  define(command) {
    command.argument("<SOURCE>", "image file, or a stored image's tag or digest").argument("<TARGET>", "HOST[:PORT]/REPO[:TAG] (TAG defaults to latest)");
    defineRegistryOptions(command).option("--json", "print the result as JSON");
  },
  async run(options, args, { config }) {
    const { pushImage } = await import("../../registry/index.js");
    const { formatBytes, progress } = await import("../../util/log.js");
    const result = await pushImage(config, args[0] ?? "", args[1] ?? "", registryOptions(options));
    progress(`${count(result.uploaded, "blob")} uploaded (${formatBytes(result.bytesUploaded)}), ${result.skipped} already there, ${result.mounted} mounted`);
    if (options.json) writeJson(result);
    else writeOut(`Pushed ${show(result.reference)} ${result.digest}\n`);
  },
};
