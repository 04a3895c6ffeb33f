import { count } from "../../util/plural.js";
import { writeJson, writeOut } from "../../util/log.js";
import { show } from "../../util/printable.js";
import type { CommandSpec } from "../command.js";

export const verify: CommandSpec = {
  name: "verify",
  summary: "report every file of a container that differs from its image and base",
  define(command) {
    command.requiredOption("-c, --container <DIR>", "container directory").option("--json", "print the result as JSON");
  },
  async run(options, _args, { config }) {
    const { verifyContainer } = await import("../../container/verify.js");
    const check = await verifyContainer(config, options.container as string);
    if (options.json) writeJson(check);
    else {
      for (const difference of check.differences) writeOut(`${difference.change}: ${show(difference.path)}\n`);
      writeOut(`Checked ${count(check.checked, "entry", "entries")} of ${check.dir}: ${check.differences.length === 0 ? "as the image and base made it" : count(check.differences.length, "difference")}\n`);
    }
    return check.differences.length > 0 ? 1 : 0;
  },
};
