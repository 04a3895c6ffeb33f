import { count } from "../../util/plural.js";
import { writeJson, writeOut } from "../../util/log.js";
import { show } from "../../util/printable.js";
import type { CommandSpec } from "../command.js";
import { defineRegistryOptions, registryOptions } from "../registry-options.js";

export const pull: CommandSpec = {
  name: "pull",
  summary: "fetch an image from a registry into the store (only the blobs it lacks travel)",
  define(command) {
    command.argument("<REF>", "HOST[:PORT]/REPO[:TAG] or HOST[:PORT]/REPO@sha256:... (TAG defaults to latest)").option("-o, --output <IMAGE.tar>", "also write the image to this file (as pypakr save does)");
    defineRegistryOptions(command).option("--json", "print the result as JSON");
  },
  async run(options, args, { config }) {
    const { pullImage } = await import("../../registry/index.js");
    const { formatBytes, progress } = await import("../../util/log.js");
    const result = await pullImage(config, args[0] ?? "", { ...registryOptions(options), ...(typeof options.output === "string" ? { output: options.output } : {}) });
    progress(`${count(result.downloaded, "blob")} downloaded (${formatBytes(result.bytesDownloaded)}), ${result.present} already present`);
    if (options.json) {
      const { reference, digest, downloaded, present, bytesDownloaded } = result;
      writeJson({ reference, digest, downloaded, present, bytesDownloaded });
    } else {
      writeOut(`Pulled ${show(result.reference)} ${result.digest}\n`);
    }
  },
};
