import { writeJson, writeOut } from "../../util/log.js";
import type { CommandSpec } from "../command.js";

export const relocate: CommandSpec = {
  name: "relocate",
  summary: "rewrite a moved or copied container in place for its new path (what run asks for after mv or cp -a)",
  define(command) {
    command.requiredOption("-c, --container <DIR>", "container directory, where it is now").option("--json", "print the result as JSON");
  },
  async run(options, _args, { config }) {
    const { relocateContainer } = await import("../../container/index.js");
    const result = await relocateContainer(config, options.container as string);
    if (options.json) writeJson(result);
    else if (result.from === null) writeOut(`${result.dir} has not moved: it is where it was made; nothing to do\n`);
    else writeOut(`Relocated ${result.dir} (made at ${result.from}): ${result.files} file${result.files === 1 ? "" : "s"} rewritten\n`);
  },
};
