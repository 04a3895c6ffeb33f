import { formatBytes, progress } from "../../util/log.js";
import { count } from "../../util/plural.js";
import { show } from "../../util/printable.js";
import { defineCommand } from "../command.js";
import { connection, FLAGS, json, registryOptions, text } from "../options.js";
import { report } from "../output.js";

export const pull = defineCommand("pull", "fetch an image from a registry into the store (only the blobs it lacks travel)", {
  options: { output: text(FLAGS.output, "also write the image to this file (as pypakr save does)"), ...registryOptions(), json: json() },
  arguments: { "<REF>": "HOST[:PORT]/REPO[:TAG] or HOST[:PORT]/REPO@sha256:... (TAG defaults to latest)" },
  async run(options, args, { config }) {
    const { pullImage } = await import("../../registry/index.js");
    const result = await pullImage(config, args[0] ?? "", { ...connection(options), ...(options.output !== undefined ? { output: options.output } : {}) });
    progress(`${count(result.downloaded, "blob")} downloaded (${formatBytes(result.bytesDownloaded)}), ${result.present} already present`);
    report(result, options, {
      json: ({ reference, digest, downloaded, present, bytesDownloaded }) => ({ reference, digest, downloaded, present, bytesDownloaded }),
      text: ({ reference, digest }) => `Pulled ${show(reference)} ${digest}\n`,
    });
  },
});
