import { count } from "../../util/plural.js";
import { writeJson, writeOut } from "../../util/log.js";
import type { CommandSpec } from "../command.js";

export const gc: CommandSpec = {
  name: "gc",
  summary: "free store space no tag, container or running pypakr needs",
  define(command) {
    command.option("--json", "print the result as JSON");
  },
  async run(options, _args, { config }) {
    const { Store } = await import("../../store/index.js");
    const { collectGarbage } = await import("../../store/index.js");
    const { formatBytes } = await import("../../util/log.js");
    const result = await collectGarbage(await Store.open(config));
    if (options.json) writeJson(result);
    else writeOut(`Removed ${count(result.removedImages.length, "untagged image")}; freed ${formatBytes(result.freedBytes)} (${result.freedBytes} bytes)\n`);
  },
};
