import { formatBytes, progress } from "../../util/log.js";
import { count } from "../../util/plural.js";
import { show } from "../../util/printable.js";
import { defineCommand } from "../command.js";
import { connection, json, registryOptions } from "../options.js";
import { report } from "../output.js";

export const push = defineCommand("push", "send an image to a registry (only the blobs it lacks travel)", {
  options: { ...registryOptions(), json: json() },
  arguments: { "<SOURCE>": "image file, or a stored image's tag or digest", "<TARGET>": "HOST[:PORT]/REPO[:TAG] (TAG defaults to latest)" },
  async run(options, args, { config }) {
    const { pushImage } = await import("../../registry/index.js");
    const result = await pushImage(config, args[0] ?? "", args[1] ?? "", connection(options));
    progress(`${count(result.uploaded, "blob")} uploaded (${formatBytes(result.bytesUploaded)}), ${result.skipped} already there, ${result.mounted} mounted`);
    report(result, options, { text: ({ reference, digest }) => `Pushed ${show(reference)} ${digest}\n` });
  },
});
