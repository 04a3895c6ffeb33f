import { defineCommand } from "../command.js";
import { json } from "../options.js";
import { report } from "../output.js";

export const inspect = defineCommand("inspect", "show what an image holds and needs", {
  options: { json: json() },
  arguments: { "<IMAGE>": "image file, or a stored image's tag or digest" },
  async run(options, args, { config }) {
    const { inspectImageArgument } = await import("../../store/index.js");
    const { formatInspection } = await import("../../image/index.js");
    report(await inspectImageArgument(config, args[0] ?? ""), options, { text: formatInspection });
  },
});
