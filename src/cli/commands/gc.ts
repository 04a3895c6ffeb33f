import { formatBytes } from "../../util/log.js";
import { count } from "../../util/plural.js";
import { defineCommand } from "../command.js";
import { json } from "../options.js";
import { report } from "../output.js";

export const gc = defineCommand("gc", "free store space no tag, container or running pypakr needs", {
  options: { json: json() },
  async run(options, _args, { config }) {
    const { Store } = await import("../../store/index.js");
    const { collectGarbage } = await import("../../store/index.js");
    report(await collectGarbage(await Store.open(config)), options, {
      text: ({ removedImages, freedBytes }) => `Removed ${count(removedImages.length, "untagged image")}; freed ${formatBytes(freedBytes)} (${freedBytes} bytes)\n`,
    });
  },
});
