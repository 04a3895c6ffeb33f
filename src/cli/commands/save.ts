import { formatBytes, writeErr } from "../../util/log.js";
import { defineCommand } from "../command.js";
import { FLAGS, required } from "../options.js";

export const save = defineCommand("save", "write a stored image to an image file (an OCI image archive)", {
  options: { output: required(FLAGS.output, "file to write") },
  arguments: { "<IMAGE>": "tag or digest of a stored image" },
  async run(options, args, { config }) {
    const { saveStoredImage } = await import("../../store/index.js");
    const { file, size, digest } = await saveStoredImage(config, args[0] ?? "", options.output);
    writeErr(`pypakr: wrote ${file} (${formatBytes(size)}) ${digest}\n`);
  },
});
